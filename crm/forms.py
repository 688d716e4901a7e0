"""HTML forms of the CRM core."""

from django import forms

from crm.models import Contact


class ContactLegalBasisForm(forms.ModelForm):
    """A contact's legal basis for marketing texts, on the contact's page. The
    model's ``clean`` states the rules (``crm.legal.legal_basis_errors``)."""

    class Meta:
        model = Contact
        fields = ["legal_basis", "consent_at", "consent_source", "consent_evidence"]
        widgets = {
            "consent_at": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "consent_evidence": forms.Textarea(attrs={"rows": 2}),
        }
