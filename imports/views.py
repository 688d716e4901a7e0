"""The CSV import pages (#20): upload, map and preview, then progress and result;
the rows not imported download as CSV."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from core.errors import DomainError
from crm import imports, numberfix
from crm.models import Contact
from crm.views import OrganisationMixin
from imports import selectors, services
from imports.models import ContactImport, Duplicates, ImportStatus
from targetgroups.selectors import target_group_list

PREVIEW_ROWS = 10
# Problems listed on a page; the download has them all.
SHOWN = 200


class _ImportMixin(OrganisationMixin):
    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        membership = getattr(request, "membership", None)
        if request.user.is_authenticated and membership and not membership.can_write:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get_import(self) -> ContactImport:
        return get_object_or_404(
            selectors.import_list(organisation=self.organisation), pk=self.kwargs["pk"]
        )


class ImportUploadView(_ImportMixin, TemplateView):
    template_name = "imports/upload.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["recent"] = selectors.import_recent(organisation=self.organisation)
        context["error"] = kwargs.get("error", "")
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a CSV file.")
        elif upload.size > imports.MAX_BYTES:
            error = _("The file is larger than 50 MB.")
        else:
            try:
                job = services.contact_import_upload(
                    organisation=self.organisation,
                    user=request.user,
                    file_name=upload.name,
                    data=upload.read(),
                )
            except DomainError as exc:
                error = exc.message
            else:
                return redirect("contact-import-detail", pk=job.pk)
        return self.render_to_response(self.get_context_data(error=error), status=400)


def _field_choices() -> list[tuple[str, str]]:
    return [(name, Contact._meta.get_field(name).verbose_name) for name in imports.FIELDS]


class ImportDetailView(_ImportMixin, TemplateView):
    """Before the start: the mapping, the choices and the preview. After: progress,
    then the outcome with the rows not imported."""

    def get_template_names(self) -> list[str]:
        if self.job.status == ImportStatus.UPLOADED:
            return ["imports/map.html"]
        return ["imports/detail.html"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and getattr(request, "membership", None):
            self.job = self.get_import()
        return super().dispatch(request, *args, **kwargs)

    def choices(self, source) -> dict:
        job = self.job
        mapping = {str(i): "" for i in range(len(job.header))} | dict(job.mapping)
        if "country" in source:
            mapping = {str(i): source.get(f"column-{i}", "") for i in range(len(job.header))}
        return {
            "mapping": mapping,
            "country": source.get("country", job.country),
            "duplicates": source.get("duplicates", job.duplicates),
            "all_or_none": source.get("mode", "valid") == "all_or_none"
            if "country" in source
            else job.all_or_none,
            "target_group": source.get("target_group", ""),
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self.job
        context["job"] = job
        if job.status != ImportStatus.UPLOADED:
            context["problems"] = job.rejected[:SHOWN]
            context["more_problems"] = max(0, len(job.rejected) - SHOWN)
            return context
        chosen = kwargs.get("chosen") or self.choices(self.request.GET)
        preview, error = None, kwargs.get("error", "")
        try:
            mapping = services.mapping_from(chosen["mapping"], job.header)
            code = services.country_check(chosen["country"])
            data = selectors.import_data(job=job)
            preview = imports.preview(
                organisation=self.organisation,
                data=data,
                mapping=mapping,
                country=code,
                rows=PREVIEW_ROWS,
            )
            preview["problems_shown"] = preview["problems"][:SHOWN]
            preview["more_problems"] = max(0, len(preview["problems"]) - SHOWN)
        except DomainError as exc:
            error = error or exc.message
        context.update(
            chosen=chosen,
            columns=[
                {"index": str(i), "header": h, "field": chosen["mapping"].get(str(i), "")}
                for i, h in enumerate(job.header)
            ],
            fields=_field_choices(),
            countries=numberfix.countries(),
            duplicate_choices=Duplicates.choices,
            target_groups=target_group_list(organisation=self.organisation).order_by("name"),
            preview=preview,
            error=error,
        )
        return context

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        chosen = self.choices(request.POST)
        group = chosen["target_group"]
        try:
            if group and not (group.isdigit() and len(group) < 19):
                message = _("No such target group in your organisation.")
                raise DomainError("invalid_target_group", message)
            services.contact_import_start(
                contact_import=self.job,
                mapping=chosen["mapping"],
                country=chosen["country"],
                duplicates=chosen["duplicates"],
                all_or_none=chosen["all_or_none"],
                target_group_id=int(group) if group else None,
            )
        except DomainError as exc:
            if exc.code == "already_started":
                messages.error(request, exc.message)
                return redirect("contact-import-detail", pk=pk)
            context = self.get_context_data(chosen=chosen, error=exc.message)
            return self.render_to_response(context, status=400)
        return redirect("contact-import-detail", pk=pk)


class ImportRejectedView(_ImportMixin, TemplateView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = self.get_import()
        body = imports.rejected_csv(job.rejected, job.header)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="not-imported-{job.pk}.csv"'
        return response
