"""The plan: what the technician typed is checked, the configuration fills the rest, and
a job can store it and get the very same plan back after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from mw_tui import config as cfg
from mw_tui.importing import Destination, DestinationKind, ImportPlan, LocalPatient, PlanError
from tests.importing.conftest import config_for


def configured(tmp_path: Path, **importing: object) -> cfg.Config:
    base = config_for(tmp_path, **importing)
    return cfg.Config(station=base.station, importing=base.importing, archives=(
        cfg.Archive(name="pacs", ae_title="PACS", host="10.0.0.5"),
        cfg.Archive(name="other", ae_title="OTHER", host="10.0.0.6")),
        targets=(cfg.CloudTarget(name="web", url="https://pacs.example.org/dicom-web"),))


@pytest.mark.parametrize("kwargs, message", [
    ({"patient_id": " "}, "local patient ID is empty"),
    ({"patient_id": "A\\B"}, "no backslash"),
    ({"patient_id": "X" * 65}, "at most 64"),
    ({"patient_id": "1", "birth_date": "1960-02-14"}, "use YYYYMMDD"),
    ({"patient_id": "1", "birth_date": "19601314"}, "use YYYYMMDD"),
    ({"patient_id": "1", "sex": "X"}, "use M, F or O"),
])
def test_local_values_are_checked(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        LocalPatient(**kwargs)


def test_destinations(tmp_path: Path) -> None:
    config = configured(tmp_path)
    assert Destination.parse("", config) == Destination(DestinationKind.ARCHIVE, "pacs")
    assert Destination.parse("other", config).name == "other"
    assert str(Destination.parse("cloud:web", config)) == "cloud:web"
    with_default = configured(tmp_path, destination="cloud:web")
    assert Destination.parse("", with_default).kind is DestinationKind.CLOUD
    with pytest.raises(PlanError, match="No archive is configured"):
        Destination.parse("", config_for(tmp_path))


def test_the_configuration_fills_the_issuer_and_the_uid_option(tmp_path: Path) -> None:
    config = configured(tmp_path, issuer="OUR_HOSPITAL", new_uids=True)
    plan = ImportPlan.make(config, LocalPatient("LOC-1"))
    assert plan.local is not None and plan.local.issuer == "OUR_HOSPITAL"
    assert plan.new_uids and plan.destination == "pacs"
    typed = ImportPlan.make(config, LocalPatient("LOC-1", "TYPED"), new_uids=False)
    assert typed.local is not None and typed.local.issuer == "TYPED" and not typed.new_uids
    assert ImportPlan.make(config, None).local is None


def test_a_stored_plan_comes_back_the_same(tmp_path: Path) -> None:
    import json

    config = configured(tmp_path)
    plan = ImportPlan.make(config, LocalPatient("LOC-1", "H", "Doe^John", "19600214", "M"),
                           destination="cloud:web", study_uids=("1.2.3",), accession="A1",
                           new_uids=True)
    again = ImportPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert ImportPlan.make(config, None).uid_salt != plan.uid_salt
