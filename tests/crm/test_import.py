"""CSV import of customers: a file of good and bad rows answers a report (line and reason of each
rejected row); importing it again changes nothing (idempotent on external_id); the parser alone."""

from __future__ import annotations

import pytest

from tongdai import demo
from tongdai.crm import importer

CSV = """external_id,name,kind,vip_tier,language,phone,email,address
C-100,Ngô Bảo Châu,person,Gold,vi,0912 345 678,chau@example.vn,Hà Nội
C-101,,person,,vi,0912345679,,
C-102,Bad Phone,person,,en,12ab,,
C-103,Bad Mail,person,,en,,not-an-email,
C-100,Ngô Bảo Châu again,person,,vi,0912000111,,
C-104,Same Phone,person,,vi,+84912345678,,
C-105,Demo Clash,person,,vi,0918000888,,
C-106,"Công ty Hưng Thịnh, chi nhánh 2",company,silver,vi,028 3822 9999;0909 111 222,sales@hungthinh.example.vn,"1 Lê Lợi, Q.1"
C-107,Bad Kind,robot,,vi,,,
,No Id Person,person,,en,+14155550199,,
"""


async def _import(api, text: str, h):
    r = await api.client.post("/api/v1/customers/import", headers=h | {"content-type": "text/csv"}, content=text.encode())
    assert r.status_code == 200, r.text
    return r.json()


async def test_given_file_of_good_and_bad_rows_then_report_names_each_rejected_line_and_reason(api):
    h = await api.headers(demo.SUPERVISOR_LOGIN)
    report = await _import(api, CSV, h)
    assert (report["rows"], report["imported"], report["created"], report["updated"]) == (10, 3, 3, 0)
    reasons = {r["row"]: r["reason"] for r in report["rejected"]}
    assert reasons == {
        3: "missing name",
        4: "bad phone: '12ab'",
        5: "bad e-mail: 'not-an-email'",
        6: "duplicate external_id 'C-100' (line 2)",
        7: "duplicate +84912345678 (line 2)",
        8: "duplicate: +84918000888 belongs to another customer",
        10: reasons[10],
    }
    assert reasons[10].startswith("bad kind")
    company = (await api.client.get("/api/v1/customers", headers=h, params={"q": "Hưng Thịnh"})).json()["items"][0]
    assert (company["kind"], company["vip_tier"], company["address"]) == ("company", "silver", "1 Lê Lợi, Q.1")
    assert sorted(cp["value"] for cp in company["contact_points"]) == ["+842838229999", "+84909111222",
                                                                       "sales@hungthinh.example.vn"]
    chau = (await api.client.get("/api/v1/customers/lookup", headers=h, params={"phone": "0912345678"})).json()
    assert (chau["customer"]["name"], chau["vip_tier"]) == ("Ngô Bảo Châu", "gold")


async def test_given_same_file_imported_twice_then_second_run_updates_and_creates_nothing(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    good = "external_id,name,vip_tier,phone\nK-1,Lâm Khánh,gold,0933 000 111\nK-2,Tô Vân,,0933 000 222\n"
    first = await _import(api, good, h)
    assert (first["created"], first["updated"], first["rejected"]) == (2, 0, [])
    second = await _import(api, good.replace("Lâm Khánh,gold", "Lâm Khánh,platinum"), h)
    assert (second["created"], second["updated"], second["rejected"]) == (0, 2, [])
    found = (await api.client.get("/api/v1/customers", headers=h, params={"name": "Lâm Khánh"})).json()
    assert found["total"] == 1 and found["items"][0]["vip_tier"] == "platinum"
    assert len(found["items"][0]["contact_points"]) == 1


async def test_given_multipart_upload_then_imported_like_text_csv(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN)
    files = {"file": ("customers.csv", b"name,phone\nMai Anh,0944 555 666\n", "text/csv")}
    r = await api.client.post("/api/v1/customers/import", headers=h, files=files)
    assert r.status_code == 200 and r.json()["created"] == 1, r.text


async def test_given_file_without_name_column_or_not_utf8_then_422_invalid_file(sqlite_api):
    api = sqlite_api
    h = await api.headers(demo.ADMIN_LOGIN) | {"content-type": "text/csv"}
    r = await api.client.post("/api/v1/customers/import", headers=h, content=b"phone,email\n0912345678,a@b.vn\n")
    assert r.status_code == 422 and r.json()["error_id"] == "invalid_file"
    r = await api.client.post("/api/v1/customers/import", headers=h, content="name\nBảo\n".encode("utf-16"))
    assert r.status_code == 422 and r.json()["error_id"] == "invalid_file"


def test_parser_reads_aliases_bom_and_several_phones_in_one_cell():
    text = "\ufeffID,Full_Name,VIP,Lang,Mobile\n7,An,GOLD,VI,0912345678 | 0987654321\n"
    parsed = importer.parse(text, "VN")
    assert parsed.rejected == [] and len(parsed.rows) == 1
    row = parsed.rows[0]
    assert (row.external_id, row.fields["name"], row.fields["vip_tier"], row.fields["language"]) == ("7", "An", "gold", "vi")
    assert row.phones == ("+84912345678", "+84987654321")


def test_parser_skips_blank_lines_and_counts_lines_of_the_file():
    parsed = importer.parse("name,phone\n\nA,0912345678\n,0912345679\n", "VN")
    assert parsed.total == 2 and [r.line for r in parsed.rows] == [3] and parsed.rejected[0].line == 4


def test_parser_refuses_a_file_without_header():
    with pytest.raises(importer.ImportFileError):
        importer.parse("", "VN")
