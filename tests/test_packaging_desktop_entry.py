"""The Linux desktop entry opens DICOM files and folders with our icon."""
import configparser

from lesionviewer.paths import resources_dir

PROJECT = resources_dir().parent


def _entry():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # desktop keys are case-sensitive
    parser.read(PROJECT / "packaging" / "lesionviewer.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_takes_files_and_declares_dicom():
    entry = _entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split() == ["lesionviewer", "%F"]
    assert "application/dicom" in entry["MimeType"].split(";")
    assert entry["Categories"].endswith(";")


def test_desktop_entry_icon_ships_in_resources():
    name = _entry()["Icon"]
    assert (resources_dir() / "icons" / f"{name}.png").is_file()
    assert (resources_dir() / "icons" / f"{name}.svg").is_file()
