"""Target groups: segments of one organisation's contacts, chosen by conditions over
contact and account fields plus contacts included or excluded by hand.

Owns the field catalogue (``fields.py``: which fields conditions may test, with
which operators), membership resolution in one SQL query (``selectors.py``), the
writes (``services.py``, where hand-picked contacts are checked), and the pages and
API of groups. It imports ``crm`` and never ``sms``: the SMS tab and button come
from the templates named in ``TARGET_GROUP_SMS_TAB_TEMPLATE`` and
``TARGET_GROUP_ACTIONS_TEMPLATE``.
"""
