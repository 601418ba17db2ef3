"""Reading and writing economies and results.

:func:`read_economy` and :func:`write_economy` dispatch on ``format``; when it is
omitted the format is detected from the name, then from the content (magic bytes).

Formats
-------
``"csv"``
    A folder with ``products.csv`` and ``flows.csv`` (the layout of the real tables
    shipped with lab; see :mod:`lab.io._csv`). ``products.csv`` has
    ``code,name,total_output`` and then one column per resource row, in order
    (row 0 is labour), named after the resource; ``flows.csv`` has
    ``input_code,output_code,value`` (money flows). ``A = flows·diag(1/total_output)``,
    ``R = resources·diag(1/total_output)``. An :class:`~lab.Economy` holds no money
    data, so the writer writes ``total_output = 1`` for every product: the flows
    *are* the coefficients of A and the resource columns *are* the rows of R, and a
    round trip gives the same A and R bit for bit (values are written with 17
    significant digits). Optional ``unit`` column in both files: see *Units*.
``"parquet"``
    The same layout as ``"csv"`` with ``products.parquet`` and ``flows.parquet``
    (see :mod:`lab.io._parquet`): the code columns are written dictionary-encoded
    in product order and read in record batches into preallocated arrays, one
    dictionary lookup per distinct code and row group rather than per flow.
``"mtx"``
    Matrix Market: ``NAME.mtx`` holds A, and the sidecar ``NAME.resources.csv``
    holds ``code`` plus one column per resource row (see :mod:`lab.io._mtx`).
``"npz"``
    One NumPy ``.npz`` file holding the CSC arrays of A, the resource rows and
    the codes. Loaded with ``allow_pickle=False``: reading never runs code.
``"dense-csv"``
    A small dense CSV matrix with a header row and a header column of product codes,
    resource rows after a ``#resources`` line (see :mod:`lab.io._dense`).

Detection: a folder holding ``products.parquet`` is ``"parquet"``, one holding
``products.csv`` is ``"csv"``; a file named ``*.npz``, ``*.mtx``, ``*.csv`` is
``"npz"``, ``"mtx"``, ``"dense-csv"``; otherwise the first bytes decide
(``PK\\x03\\x04`` npz, ``%%MatrixMarket`` mtx, ``PAR1`` is refused as a lone
Parquet file, text starting with a ``code`` cell dense-csv).

Resource columns (csv, parquet)
    Every column of the products file after ``code``, ``name``, ``total_output``
    other than ``unit`` is a resource row, in header order (the shipped tables list
    their labour columns in lab's order of preference). ``labour=NAME`` moves that
    column to row 0; ``labour="none"`` ignores all of them (R = one zero row named
    ``"none"``);
    a table with no resource column needs ``labour="none"``.

Units (csv, parquet)
    If the products file has a ``unit`` column, it is the money unit of
    ``total_output``; if the flows file has one, the unit of ``value``. Each must
    hold one unit throughout its file, and where both files have one they must
    agree; otherwise :class:`~lab.exceptions.DataFormatError` names both files and
    units. Units are compared as exact strings after stripping blanks.

Bad data
    Every problem raises :class:`~lab.exceptions.DataFormatError` naming the file and
    the line (1-based file line for text files, header = line 1; 1-based row for
    Parquet, row 1 = first data row) or product code, and what is wrong: truncated
    or corrupt files, unknown product codes in flows, duplicated codes, negative
    (``negative="clip"`` sets them to 0 with a warning), NaN/inf or non-numeric
    values, a product with inputs but zero output, mismatched units.

Results are written as CSV or Parquet (by file suffix), atomically. Every writer is
atomic (:func:`lab._atomic.atomic_path`); folder formats write each file atomically.
"""

from __future__ import annotations

from pathlib import Path

from lab._atomic import atomic_path
from lab._validation import check_choice
from lab.exceptions import DataFormatError, InvalidEconomyError, InvalidOptionError

__all__ = ["FORMATS", "detect_format", "read_economy", "write_economy", "write_values"]


#: The formats :func:`read_economy` and :func:`write_economy` know.
FORMATS = ("csv", "parquet", "mtx", "npz", "dense-csv")
_SUFFIX = {".npz": "npz", ".mtx": "mtx", ".csv": "dense-csv", ".parquet": "parquet"}


def detect_format(path, format: str | None = None, *, for_writing: bool = False) -> str:
    """The format of ``path``: ``format`` if given, else from its name, then its content."""
    path = Path(path)
    if format is not None:
        check_choice("format", format, FORMATS)
        return format
    if path.is_dir():
        if (path / "products.parquet").exists():
            return "parquet"
        if (path / "products.csv").exists():
            return "csv"
        if for_writing:
            return "csv"
        raise DataFormatError("cannot tell the format: the folder has neither products.csv "
                              "nor products.parquet", path=path)
    fmt = _SUFFIX.get(path.suffix.lower())
    if fmt == "parquet" and not for_writing:
        raise DataFormatError("a Parquet economy is a folder with products.parquet and "
                              "flows.parquet; pass the folder", path=path)
    if fmt is not None:
        return fmt
    if for_writing:
        if path.suffix == "":
            return "csv"
        raise InvalidOptionError(f"cannot tell the format from the name {str(path)!r}; pass "
                                 f"format= (one of {', '.join(FORMATS)})")
    from lab.io._files import open_regular

    with open_regular(path) as fh:  # a FIFO or a device is refused, not waited on
        head = fh.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.lstrip().startswith(b"%%MatrixMarket"):
        return "mtx"
    if head.startswith(b"PAR1"):
        raise DataFormatError("a Parquet economy is a folder with products.parquet and "
                              "flows.parquet; pass the folder", path=path)
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].split(b",", 1)[0].strip(b'"\r ')
    if first == b"code":
        return "dense-csv"
    raise DataFormatError("cannot tell the format from the name or the content; pass "
                          f"format= (one of {', '.join(FORMATS)})", path=path)


def read_economy(path, format: str | None = None, *, labour: str | None = None,
                 negative: str = "error", batch_size: int = 1 << 23):
    """Read an economy from a file or folder in one of :data:`FORMATS`.

    Parameters
    ----------
    path : str or Path
        A folder (``"csv"``, ``"parquet"``) or a file (``"mtx"``, ``"npz"``,
        ``"dense-csv"``).
    format : {"csv", "parquet", "mtx", "npz", "dense-csv"}, optional
        Detected from the name, then the content, when omitted.
    labour : str, optional
        ``"csv"``/``"parquet"``: the resource column that becomes row 0 of R, or
        ``"none"`` to read no resource columns (R = one zero row ``"none"``).
    negative : {"error", "clip"}
        ``"csv"``/``"parquet"``: negative flows raise, or are set to 0 with a
        ``UserWarning`` reporting their count and total.
    batch_size : int
        ``"parquet"``: rows per record batch; bounds the reader's working memory
        (about 16 bytes a row, twice, plus the dictionaries of a row group).

    Returns
    -------
    Economy

    Raises
    ------
    DataFormatError
        The file is missing, truncated, corrupt or inconsistent; the message names
        the file and the line or product code.

    Examples
    --------
    >>> import tempfile, pathlib, lab
    >>> e = lab.generate_economy(50, seed=1)
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "econ"
    >>> _ = write_economy(e, folder, format="parquet")
    >>> e2 = read_economy(folder)
    >>> (e2.A != e.A).nnz, bool((e2.R == e.R).all())
    (0, True)
    """
    path = Path(path)
    check_choice("negative", negative, ("error", "clip"))
    if not path.exists():
        raise DataFormatError("no such file or folder", path=path)
    fmt = detect_format(path, format)
    if fmt == "csv":
        from lab.io._csv import read_csv_folder
        return read_csv_folder(path, labour=labour, negative=negative)
    if fmt == "parquet":
        from lab.io._parquet import read_parquet_folder
        return read_parquet_folder(path, labour=labour, negative=negative,
                                   batch_size=batch_size)
    if fmt == "mtx":
        from lab.io._mtx import read_mtx
        return read_mtx(path)
    if fmt == "dense-csv":
        from lab.io._dense import read_dense_csv
        return read_dense_csv(path)
    from lab.io._npz import read_npz
    return read_npz(path)


def write_economy(economy, path, format: str | None = None, **options) -> Path:
    """Write an economy atomically in one of :data:`FORMATS`; return the path.

    ``format`` is detected from the name when omitted: ``*.npz``, ``*.mtx``,
    ``*.csv`` (dense-csv), ``*.parquet`` (a Parquet folder), and a name without a
    suffix is a ``"csv"`` folder. Options: ``row_group_size`` for ``"parquet"``.
    The csv and parquet folders get ``total_output = 1`` (see the module docstring).

    Examples
    --------
    >>> import tempfile, pathlib, lab
    >>> e = lab.generate_economy(20, seed=1)
    >>> f = write_economy(e, pathlib.Path(tempfile.mkdtemp()) / "e.mtx")
    >>> sorted(p.name for p in f.parent.iterdir())
    ['e.mtx', 'e.resources.csv']
    """
    path = Path(path)
    fmt = detect_format(path, format, for_writing=True)
    if fmt == "csv":
        from lab.io._csv import write_csv_folder
        return write_csv_folder(economy, path)
    if fmt == "parquet":
        from lab.io._parquet import write_parquet_folder
        return write_parquet_folder(economy, path, **options)
    if fmt == "mtx":
        from lab.io._mtx import write_mtx
        return write_mtx(economy, path)
    if fmt == "dense-csv":
        from lab.io._dense import write_dense_csv
        return write_dense_csv(economy, path)
    from lab.io._npz import write_npz
    return write_npz(economy, path)


def input_files(path) -> list[Path]:
    """The files :func:`read_economy` may read for ``path`` (existing or not): a
    folder's tables and manifest, or the file and its Matrix Market sidecar. For the
    check that an output never replaces an input."""
    from lab.io._files import MANIFEST
    from lab.io._mtx import sidecar_path

    path = Path(path)
    if path.is_dir():
        return [path / name for name in ("products.csv", "flows.csv", "products.parquet",
                                         "flows.parquet", MANIFEST)]
    return [path, sidecar_path(path)]


def check_values_path(path) -> Path:
    """The output path of :func:`write_values`, checked before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidOptionError(f"output must end in .csv or .parquet, got {str(path)!r}")
    return path


def write_values(result, path, *, names=None) -> Path:
    """Write a :class:`~lab.values.ValuesResult` as ``code[,name],value`` CSV or Parquet
    (by suffix).

    With several resource rows the columns are named after the resources. ``names``:
    the product names (``economy.names``), written in a ``name`` column after the
    code. Products labelled by a MultiIndex (pymrio's ``(region, sector)``) are
    written by their codes (``"reg1.food"``).
    """
    import pandas as pd

    from lab.economy import index_codes

    path = check_values_path(path)
    suffix = path.suffix.lower()
    frame = result.frame
    if result.values.ndim == 1:
        frame.columns = ["value"]
    frame.index = pd.Index(index_codes(frame.index), name="code")
    if names is not None:
        names = list(names)
        if len(names) != len(frame):
            raise InvalidEconomyError(f"names has length {len(names)} but the result has "
                                      f"{len(frame)} products")
        if "name" in frame.columns:
            raise InvalidEconomyError("a resource is called 'name', which clashes with the "
                                      "column of product names; write without names")
        frame.insert(0, "name", names)
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            from lab.io._flows import line_end

            frame.to_csv(tmp, float_format="%.17g", lineterminator=line_end(frame.index))
        else:
            frame.to_parquet(tmp, engine="pyarrow")
    return path
