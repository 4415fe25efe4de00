"""Bulk import of the register into PostgreSQL: the shipped templates (English and Chinese, UTF-8 and GBK CSV,
and .xlsx) give the same register; bad files are reported row by row and change nothing; a second import of the
same file changes nothing; an export imports back unchanged."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import make_engine, session_factory
from devices.models import Device
from people.models import Invite, User
from register.imports import export_frame, run_import
from register.models import Building, Household, Site
from register.tables import table_bytes

pytestmark = pytest.mark.integration
TEMPLATES = Path(__file__).resolve().parents[2] / "docs" / "templates"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ORDER = ("sites", "households", "owners", "devices")


@pytest.fixture
def sessions(pg_url):
    engine = make_engine(pg_url)
    yield session_factory(engine)
    engine.dispose()


def load(sessions, what: str, name: str, **options):
    return run_import(sessions, what, (TEMPLATES / name).read_bytes(), name, now=NOW, **options)


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("variant", ["{}.csv", "{}.xlsx", "{}.zh.csv", "{}.zh.xlsx"])
def test_every_template_imports_the_same_register_row_by_row(sessions, variant):
    chinese = ".zh." in variant
    if chinese:  # the Chinese CSVs are GB18030/GBK, as Chinese Excel saves them
        with pytest.raises(UnicodeDecodeError):
            (TEMPLATES / variant.format("devices")).read_bytes().decode("utf-8")
    for what in ORDER:
        report = load(sessions, what, variant.format(what))
        assert report.ok and report.applied, report.errors
    with sessions() as session:
        sites = {s.site_id: s for s in session.scalars(select(Site))}
        assert sorted(sites) == ["site1", "site2"]
        assert sites["site1"].timezone == "Asia/Shanghai" and sites["site1"].manager_phone == "13800138000"
        assert sites["site1"].name == ("阳光花园" if chinese else "Sunny Garden")
        buildings = {(b.site_id, b.building_id): b.name for b in session.scalars(select(Building))}
        assert buildings == {("site1", "b1"): "1号楼" if chinese else "Building 1",
                             ("site1", "b2"): "2号楼" if chinese else "Building 2",
                             ("site2", "b1"): "1号楼" if chinese else "Building 1"}
        households = {(h.site_id, h.building_id, h.unit): h for h in session.scalars(select(Household))}
        assert len(households) == 5
        flat = households[("site1", "b1", "1-0201")]
        assert (flat.floor, flat.area_m2, flat.phone) == ("2", 120.0, "13700137003")
        assert households[("site1", "b2", "2-0101")].holder is None  # a vacant flat
        owners = {u.username: u for u in session.scalars(select(User).where(User.role == "owner"))}
        assert sorted(owners) == ["13700137001", "13700137002", "13700137003", "13700137005"]  # +86 137 0013 7003
        assert (owners["13700137005"].site, owners["13700137005"].unit) == ("site2", "1-0301")
        assert all(u.password_hash == "" for u in owners.values())  # they set it with their invite code
        assert session.scalar(select(func.count()).select_from(Invite)) == 4
        devices = {d.device_id: d for d in session.scalars(select(Device))}
        assert len(devices) == 6 and {d.status for d in devices.values()} == {"active"}
        el1 = devices["s1b1-el1"]
        assert (el1.kind, el1.registration_code, el1.installed_on) == ("elevator", "31103101002021060001",
                                                                      date(2021, 6, 1))
        assert el1.name == ("1号楼1号电梯" if chinese else "Building 1 elevator 1")
        assert (devices["s1b1-mt2"].kind, devices["s1b1-mt2"].medium, devices["s1b1-mt2"].household) == (
            "meter", "electricity", "1-0101")
        assert (devices["s1b2-fp1"].floor, devices["s1b2-fp1"].contractor_phone) == ("B1", "02166660000")
        assert devices["s1b1-el1"].last_seen is None  # registered, not heard from yet


def test_importing_the_same_file_again_changes_nothing(sessions):
    for what in ORDER:
        load(sessions, what, f"{what}.csv")
    for what in ORDER:
        report = load(sessions, what, f"{what}.csv")
        assert (report.created, report.updated, report.unchanged) == (0, 0, report.rows), what
        assert report.invites == []  # owners who already have an account get no second code


def test_a_bad_file_names_every_bad_row_and_column_and_changes_nothing(sessions):
    load(sessions, "sites", "sites.csv")
    bad = ("device_id,site_id,building_id,kind,medium,installed_on,contractor_phone\n"
           "ok-1,site1,b1,elevator,,2021-06-01,\n"
           "bad id!,site1,b1,elevator,,,\n"
           "ok-2,site1,b1,escalator,,,\n"
           "ok-3,site1,b1,meter,lava,,\n"
           "ok-4,site1,b1,access,,yesterday,\n"
           "ok-5,site9,b1,access,,,\n"
           "ok-1,site1,b1,access,,,\n"
           "ok-6,site1,b1,水表,,2021年6月1日,phone?\n"
           "ok-7,site1,,access,,,\n")
    report = run_import(sessions, "devices", bad.encode(), "devices.csv", now=NOW)
    assert not report.applied and count(sessions, Device) == 0 and count(sessions, Building) == 0
    found = {(e.row, e.column): e.reason for e in report.errors}
    assert "not a valid id" in found[(3, "device_id")]
    assert "unknown device kind 'escalator'" in found[(4, "kind")] and "elevator (电梯)" in found[(4, "kind")]
    assert "unknown medium 'lava'" in found[(5, "medium")]
    assert "not a date" in found[(6, "installed_on")]
    assert "site 'site9' is not in the register" in found[(7, "site_id")]
    assert "same ok-1 as row 2" in found[(8, None)]
    assert "not a phone number" in found[(9, "contractor_phone")]
    assert found[(10, "building_id")] == "required, but empty"
    assert len(report.errors) == 8 and report.rows == 9
    assert "nothing was applied" in report.summary()

    chosen = run_import(sessions, "devices", bad.encode(), "devices.csv", now=NOW, apply_good=True)
    assert chosen.applied and chosen.created == 1 and count(sessions, Device) == 1  # ok-1; ok-6 lacks a phone


def test_unknown_and_missing_columns_are_named_before_any_row(sessions):
    report = run_import(sessions, "households", "小区编号,房号,colour\nsite1,1-0101,red\n".encode(), "h.csv",
                        now=NOW)
    reasons = {(e.row, e.column): e.reason for e in report.errors}
    assert "unknown column" in reasons[(1, "colour")] and "楼栋编号" in reasons[(1, "colour")]
    assert "required column missing" in reasons[(1, "building_id")]
    assert report.rows == 0 and not report.applied


def test_a_file_that_is_not_a_table_is_refused_with_its_reason(sessions):
    report = run_import(sessions, "devices", b"\x00\x01PK garbage", "devices.xlsx", now=NOW)
    assert not report.applied and "not a readable .xlsx workbook" in report.errors[0].reason
    report = run_import(sessions, "devices", b"a,b\n", "devices.pdf", now=NOW)
    assert "unknown file type .pdf" in report.errors[0].reason


def test_a_dry_run_counts_what_would_change_and_changes_nothing(sessions):
    load(sessions, "sites", "sites.csv")
    report = load(sessions, "households", "households.csv", dry_run=True)
    assert (report.created, report.applied, report.dry_run) == (5, False, True)
    assert "would be created" in report.summary()
    assert count(sessions, Household) == 0 and count(sessions, Building) == 0


def test_an_export_imports_back_unchanged_in_both_formats_and_languages(sessions):
    for what in ORDER:
        load(sessions, what, f"{what}.zh.xlsx")
    for what in ORDER:
        for fmt, lang in (("csv", "en"), ("xlsx", "zh")):
            with sessions() as session:
                data = table_bytes(export_frame(what, session, lang=lang), fmt)
            report = run_import(sessions, what, data, f"{what}.{fmt}", now=NOW)
            assert report.ok and (report.created, report.updated) == (0, 0), (what, fmt, report.errors)


def test_a_large_file_shows_progress(sessions):
    load(sessions, "sites", "sites.csv")
    rows = "".join(f"site1,b{i % 20},{i:05d}\n" for i in range(2500))
    seen = []
    report = run_import(sessions, "households", f"site_id,building_id,unit\n{rows}".encode(), "big.csv", now=NOW,
                        progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert report.applied and report.created == 2500
    assert ("checked", 1000, 2500) in seen and ("checked", 2000, 2500) in seen
