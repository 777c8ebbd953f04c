"""Object storage for linguacodus: local paths, file:// and s3:// behind one API, atomic writes,
and the results layout. Imports nothing else from the project."""
from storage.errors import StorageError, StorageNotFoundError, StorageTransientError
from storage.layout import AttemptLayout, CompetitionLayout, RunLayout
from storage.results import (
    RESULT_COLUMNS,
    RESULT_STATUSES,
    RESULTS_SCHEMA_VERSION,
    CompetitionResult,
    rows_to_table,
)
from storage.uri import (
    copy,
    delete,
    download_dir,
    exists,
    is_dir,
    is_s3,
    join,
    list_uris,
    local_path,
    move,
    put_if_absent,
    pyarrow_filesystem,
    read_bytes,
    read_csv,
    read_json,
    read_parquet,
    read_parquet_table,
    read_text,
    write_bytes,
    write_csv,
    write_json,
    write_parquet,
    write_text,
)

__all__ = [
    "RESULT_COLUMNS", "RESULT_STATUSES", "RESULTS_SCHEMA_VERSION", "AttemptLayout", "CompetitionLayout",
    "CompetitionResult", "RunLayout",
    "StorageError", "StorageNotFoundError", "StorageTransientError", "copy", "delete",
    "download_dir", "exists", "is_dir", "is_s3", "join", "list_uris", "local_path", "move",
    "put_if_absent", "pyarrow_filesystem", "read_bytes", "read_csv", "read_json", "read_parquet",
    "read_parquet_table", "read_text", "rows_to_table", "write_bytes", "write_csv", "write_json",
    "write_parquet", "write_text",
]
