"""Values as people read them, on the screens and the command line."""

from __future__ import annotations

from mw_tui.util import text as fmt


def test_names_dates_sizes_and_durations_read_well() -> None:
    assert fmt.person_name("Müller^Jürgen") == "Müller, Jürgen"
    assert fmt.person_name("Yamada^Tarou=山田^太郎=やまだ^たろう") == "Yamada, Tarou"
    assert fmt.person_name("=山田^太郎") == "山田, 太郎"
    assert fmt.person_name("Smith^John^A^Dr^Jr") == "Dr Smith, John A Jr"
    assert fmt.dicom_date("20240131") == "2024-01-31" and fmt.dicom_date("2024") == "2024"
    assert fmt.human_size(737_000_000) == "737.0 MB" and fmt.human_size(4.7e9) == "4.7 GB"
    assert fmt.duration(5) == "5 s" and fmt.duration(125) == "2 min 05 s"
    assert fmt.duration(3725) == "1 h 02 min" and fmt.duration(None) == ""
    assert fmt.human_size(None) == "?" and fmt.human_size(None, "unknown size") == "unknown size"
    assert fmt.human_size(999) == "999 B" and fmt.human_size(1500) == "2 KB"
