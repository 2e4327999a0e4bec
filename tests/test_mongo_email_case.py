"""The MongoDB store finds a lead by email whatever capitals another app stored it with, accented
capitals too (the Leads Artisan backend keeps the local part's case: `Élodie@example.com`)."""

from __future__ import annotations

from pathlib import Path

import artisan_backend as backend
import pymongo
import pytest
from conftest import invoke


@pytest.mark.mongo
def test_import_finds_a_web_app_lead_whose_email_has_an_accented_capital(artisan_uri: str, tmp_path: Path) -> None:
    client = pymongo.MongoClient(artisan_uri)
    leads = client.get_default_database().leads
    try:
        backend.create(leads, {"name": "Élodie Martin", "email": "Élodie@example.com", "company": "Acme"})
        assert leads.find_one({})["email"] == "Élodie@example.com"  # stored as the web app wrote it
        csv = tmp_path / "leads.csv"
        csv.write_text("name,email,company\nÉlodie Martin,Élodie@example.com,Acme Corp\n", encoding="utf-8")
        result = invoke("--db", artisan_uri, "import", str(csv), "--upsert")
        assert result.code == 0, result.stderr
        # The row updates the web app's lead; it must not become a second lead with the same email.
        emails = sorted(doc["email"] for doc in leads.find({}))
        assert emails == ["Élodie@example.com"], emails
        assert leads.find_one({})["company"] == "Acme Corp"
    finally:
        client.close()
