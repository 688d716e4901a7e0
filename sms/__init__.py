"""SMS messages to target groups: the message rules, the quota ledger, sendouts
(create, send, record, cancel, recover), delivery reports and replies, the
provider backends, and the SMS parts of the API, pages and admin.

Depends on ``targetgroups`` and ``crm`` (never the other way: the SMS tab and
button on a target group are contributed by this app's templates and urls).
"""
