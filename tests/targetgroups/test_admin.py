from targetgroups.models import TargetGroup


def test_admin_lists_groups_filtered_by_organisation(superuser_client, org, other_org):
    TargetGroup.objects.create(organisation=org, name="Ours")
    TargetGroup.objects.create(organisation=other_org, name="Theirs")
    html = superuser_client.get(
        "/admin/targetgroups/targetgroup/", {"organisation__id__exact": org.pk}
    ).content.decode()
    assert "Ours" in html and "Theirs" not in html


def test_admin_refuses_a_bad_condition(superuser_client, org):
    group = TargetGroup.objects.create(organisation=org, name="G")
    response = superuser_client.post(
        f"/admin/targetgroups/targetgroup/{group.pk}/change/",
        {
            "organisation": org.pk,
            "name": "G",
            "match": "all",
            "conditions": '[{"field": "contact.nope", "operator": "equals", "value": "x"}]',
        },
    )
    assert response.status_code == 200
    group.refresh_from_db()
    assert group.conditions == {"match": "all", "items": []}
