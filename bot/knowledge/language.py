"""Is this message written in English? Then the core answers (topics, safety replies, 111) are in English.

Vietnamese teen code borrows English words ("help", "pls", "acc", "hack", "ib"), and unaccented Vietnamese
shares letters with English ("the" = thẻ/thế, "can" = cần), so only words that are English and not teen
code count, and English must clearly outweigh Vietnamese.
"""

from __future__ import annotations

import re
from enum import Enum

from bot.nlu.normalize import has_diacritics

_WORD = re.compile(r"[a-z']+")
ENGLISH_WORDS = frozenset(
    """i i'm im my me myself you your you're we our they them their he his she her it's is are was were am
    what how why who where when which should would could will can't cant don't dont didn't doesn't does did
    have has had got get gets want wants wanted asked asks say said says tell told know think
    someone somebody anyone everyone people friend friends stranger guy girl boy
    this that these those there here with about from into of for and or but if because so just really
    please pictures picture photos photo video account password money send sent sending give gave
    scared afraid again now today tonight the do be been not like need call""".split()
)
# Words that are not Vietnamese syllables ("internet", "friend", "should") are foreign; teen code borrowings
# and app names are set aside first.
_SYLLABLE = re.compile(r"(ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdghklmnprstvx])?[aeiouy]{1,3}(ch|ng|nh|[cmnpt])?")
BORROWED = frozenset(
    """hack hacker acc nick block report group online offline link game free fire face facebook zalo
    tiktok youtube instagram insta discord roblox minecraft messenger mess story post clip video idol
    pass password inbox share like follow comment live stream skin skins code kpop anime meme admin
    page fanpage chat team fan top card google family iphone ipad android screen time python hello world""".split()
)
VIETNAMESE_WORDS = frozenset(
    """la co ko k khong bi cua toi minh em e ban nguoi thi ma voi vs gi j sao lam duoc dc nay roi r nhung
    nhu de cho mot nao ai oi a ah nha nhe vay thoi cai con chi anh may tao t m bo me ba di ve len xuong
    phai biet muon can hay da dang se chua nua""".split()
)


class Language(str, Enum):
    VIETNAMESE = "vi"
    ENGLISH = "en"


def detect_language(text: str) -> Language | None:
    """English, Vietnamese, or None when the message is too short to tell ("ok", "hi", an emoji)."""
    words = _WORD.findall(text.lower())
    accented = sum(1 for w in text.split() if has_diacritics(w))
    english = sum(
        1
        for w in words
        if w in ENGLISH_WORDS or (len(w) >= 4 and w not in BORROWED and not _SYLLABLE.fullmatch(w))
    )
    vietnamese = sum(1 for w in words if w in VIETNAMESE_WORDS and w not in ENGLISH_WORDS) + accented
    if english >= 3 and english >= 2 * vietnamese + 1:
        return Language.ENGLISH
    if vietnamese >= 1:
        return Language.VIETNAMESE
    return None
