"""The dataset error: bad data named by file, row and column."""

from __future__ import annotations

from ..errors import ValidationError

__all__ = ["DatasetError"]


class DatasetError(ValidationError):
    """Bad data in a dataset; names the file, the row (header = row 1) and the column.

    Parameters
    ----------
    path : str
        The file (or ``"<dataset>"``, ``"<DataFrame>"``).
    row : int or None
        Row in the file, the header being row 1.
    column : str
        Column (data item) at fault, as written in the file: the name the user finds there, also
        when the column is read under another name (``rename``).
    message : str
    read_as : str, optional
        The name the column is read as, when renamed; shown as "column V (read as V1)".
    index : optional
        The DataFrame index label of the row, when the data came from a DataFrame.
    """

    def __init__(self, path: str, row: int | None, column: str, message: str, *,
                 read_as: str | None = None, index=None):
        self.path = str(path)
        self.row = row
        self.column = column
        self.read_as = read_as if read_as != column else None
        self.index = index
        self.message = message
        where = f"{self.path}, row {row}" if row is not None else self.path
        if index is not None:
            where += f" (index {index!r})"
        where += f", column {column}"
        if self.read_as is not None:
            where += f" (read as {self.read_as})"
        super().__init__(where, message)
