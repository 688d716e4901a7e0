import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.demo import business_id
from crm.validators import business_id_is_valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0112038-9", True),
        ("1572860-0", True),
        ("0112038-8", False),
        ("112038-9", False),
        ("01120389", False),
        ("0112038-", False),
        ("", False),
    ],
)
def test_business_id(value, valid):
    assert business_id_is_valid(value) is valid


@given(st.randoms(use_true_random=False))
def test_generated_business_ids_are_valid_and_one_wrong_digit_is_caught(rng):
    value = business_id(rng)
    assert business_id_is_valid(value)
    wrong = (int(value[-1]) + 1 + rng.randrange(9)) % 10
    assert not business_id_is_valid(value[:-1] + str(wrong))


def test_demo_data_scales_past_its_name_pool():
    from crm.demo import make_demo

    demo = make_demo(accounts=600, contacts=10)
    assert len({a["name"] for a in demo.accounts}) == 600
