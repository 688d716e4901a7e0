from django.dispatch import Signal

# Sent by `manage.py seed_demo` with organisation= and user= after the CRM demo
# data exists, so that other apps add their own demo data without crm importing
# them. Receivers must be safe to run again.
demo_seeded = Signal()
