"""Reference data from CSV (``/api/v1/sites/{site_id}/imports/{kind}``): weather (天气), manual counts
(准确率稽核), targets (目标), business hours (营业时间). The same files and the same line-by-line
checks as `keliu import` (``keliu.reference_import``): a problem names the line and column, and
nothing is written unless every line is right."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from pydantic import BaseModel, Field

from keliu.errors import InputError
from keliu.reference_import import MAX_CSV_BYTES, parse_import_csv, save_import
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.store.accounts import User

router = APIRouter(tags=["imports"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
ImportKindName = Literal["weather", "manual-counts", "targets", "business-hours"]


class Imported(BaseModel):
    kind: ImportKindName
    records: int = Field(description="rows saved")
    encoding: str = Field(description="how the file was read: UTF-8, UTF-8 with BOM or GB18030/GBK")


@router.post(
    "/sites/{site_id}/imports/{kind}",
    response_model=Imported,
    summary="Import a reference-data CSV (checked line by line; all or nothing)",
)
async def import_csv(
    site_id: SiteScope,
    kind: ImportKindName,
    request: Request,
    user: Manager,
    file: Annotated[UploadFile, File(description="the CSV file (UTF-8 or GBK), at most 16 MiB")],
) -> Imported:
    data = await file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise InputError(f"{file.filename or 'upload'}: larger than {MAX_CSV_BYTES // (1 << 20)} MiB")
    batch = parse_import_csv(kind, data, file.filename or "upload.csv")
    saved = save_import(get_store(request), site_id, batch)
    audit(
        request, user, "import", site_id=site_id, target=kind, details={"file": file.filename, "rows": saved}
    )
    return Imported(kind=kind, records=saved, encoding=batch.encoding)
