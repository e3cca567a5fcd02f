"""SMMConfig's checks and conversions by value: each refusal with its message, each edge that is allowed, the
copies it makes of what it is given, and its dictionary form."""

from __future__ import annotations

import json
import warnings

import pytest

import smm
from smm import SMMConfig


def test_the_labelled_regions_are_one_to_all() -> None:
    assert SMMConfig(num_labelled=1).num_labelled == 1
    assert SMMConfig(num_labelled=17).num_labelled == 17  # every region labelled
    with pytest.raises(ValueError, match=r"^num_labelled must be a positive integer, got 0$"):
        SMMConfig(num_labelled=0)
    with pytest.raises(
        ValueError,
        match=r"^num_labelled must be <= num_regions \(the labelled AUs are the first regions\), "
        r"got num_labelled=18 > num_regions=17$",
    ):
        SMMConfig(num_labelled=18)


@pytest.mark.parametrize("average", ["features", "logits", "none"])
def test_every_message_average_is_accepted(average: str) -> None:
    assert SMMConfig(message_average=average).message_average == average


def test_choices_input_size_and_statistics_are_checked_with_their_messages() -> None:
    choices = r"\('features', 'logits', 'none'\)"
    with pytest.raises(ValueError, match=rf"^message_average must be one of {choices}, got 'mean'$"):
        SMMConfig(message_average="mean")
    with pytest.raises(ValueError, match=r"^tokens must be one of \('all', 'labelled'\), got 'some'$"):
        SMMConfig(tokens="some")
    for size in ((1, 299, 299), (3, 299)):  # the wrong channels with the right length, and the wrong length
        with pytest.raises(ValueError, match=rf"^input_size must be \(in_chans=3, H, W\), got \({size[0]}, 299"):
            SMMConfig(input_size=size)
    for stats in ({"mean": (0.5, 0.5)}, {"std": (0.5,)}):  # either one alone is enough to refuse
        with pytest.raises(ValueError, match=r"^mean and std must have in_chans=3 values, got \("):
            SMMConfig(**stats)


def test_the_backbones_keywords_are_a_copy() -> None:
    given = {"drop_rate": 0.1}
    config = SMMConfig(backbone_kwargs=given)
    given["drop_path_rate"] = 0.2
    assert config.backbone_kwargs == {"drop_rate": 0.1}
    assert type(config.backbone_kwargs) is dict


def test_replace_keeps_given_sizes_and_per_channel_statistics() -> None:
    assert smm.ABAW3.replace(in_chans=1, input_size=(1, 64, 48)).input_size == (1, 64, 48)  # given: kept
    assert smm.ABAW3.replace(in_chans=3).mean == smm.ABAW3.mean  # same channels: not averaged
    with pytest.raises(ValueError, match=r"^mean and std must have in_chans=1 values"):
        smm.ABAW3.replace(in_chans=1, mean=(0.1, 0.2, 0.3))  # given for other channels: refused, not averaged
    with pytest.raises(TypeError, match=r"^unknown SMMConfig field\(s\) \['depth', 'width'\]; fields: \['backbone', "):
        smm.ABAW3.replace(width=2, depth=3)


def test_replace_with_an_old_name_warns_naming_replace() -> None:
    with pytest.warns(DeprecationWarning, match=r"^SMMConfig\.replace\(message_reduction=\.\.\.\) is deprecated"):
        config = smm.ABAW3.replace(message_reduction="logits")
    assert config.message_average == "logits"


def test_the_dictionary_form_is_json_lists_and_reads_old_names_silently() -> None:
    data = smm.ABAW3.to_dict()
    assert type(data["input_size"]) is list
    assert type(data["region_names"]) is list
    assert SMMConfig.from_dict(json.loads(json.dumps(data))) == smm.ABAW3
    old = {**data, "message_reduction": "logits"}
    del old["message_average"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SMMConfig.from_dict(old).message_average == "logits"
