"""The knowledge base's logic: which answer a question gets, for whom, in which language, on which app.

The answers themselves are Rasa responses in nlu_data/answers/ (``utter_<intent>/<key>``, chosen by Rasa's
ResponseSelector), the platform how-tos are in howto.yml, the speaker cues in speaker.yml, the table of
contents with the sources of the advice in catalogue.yml.
"""
