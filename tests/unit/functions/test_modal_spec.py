"""Every modal the bot opens is made of Label components and valid by Discord's OpenAPI spec."""

import pytest

from functions.interactions import responses
from tests.support.discord_spec import assert_label_modal, spec_errors


def test_the_modal_builder_makes_labels_that_the_spec_accepts():
    modal = responses.modal("correct:1", "Correct this answer", [
        responses.text_input("correction", "The answer it should have given", value="x" * 5000,
                             description="Shown to trainers for review", placeholder="p" * 300),
        responses.text_input("short", "L" * 60, paragraph=False, required=False),
    ])
    first, second = assert_label_modal(modal)
    assert len(first["value"]) == 4000 and first["style"] == 2
    assert second["style"] == 1 and len(modal["data"]["components"][1]["label"]) == 45


def test_the_check_refuses_the_deprecated_action_row_form_and_spec_violations():
    row_modal = {"type": 9, "data": {"custom_id": "c", "title": "t", "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "a", "style": 1, "label": "A"}]}]}}
    assert spec_errors("ModalInteractionCallbackRequest", row_modal) == []  # still in the spec...
    with pytest.raises(AssertionError):
        assert_label_modal(row_modal)  # ...but not what the bot sends
    too_long = {"type": 9, "data": {"custom_id": "c", "title": "t", "components": [
        {"type": 18, "label": "x" * 46, "component": {"type": 4, "custom_id": "a", "style": 1}}]}}
    assert spec_errors("ModalInteractionCallbackRequest", too_long)
    no_input = {"type": 9, "data": {"custom_id": "c", "title": "t", "components": [{"type": 18, "label": "x"}]}}
    assert spec_errors("ModalInteractionCallbackRequest", no_input)
