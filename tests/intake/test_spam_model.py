"""The content spam classifier: the shipped artifact on real corpus mail and on real business mail it never saw,
abstention on scripts its ham never covered, training to a loadable artifact (business ham text-only, overlap with the
held-out mail dropped, structure that may only accuse), invariance to other filters' verdicts and tags, determinism,
and bad mail answered rather than crashed on."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from handoff.errors import NotReady
from handoff.intake.mime import parse_mail
from handoff.intake.spam_model import (
    ARTIFACT_DIR,
    ARTIFACT_NAME,
    BODY_COLUMNS,
    STRUCTURAL_NAMES,
    MailFeatures,
    SpamModel,
    content_score,
    mail_features,
    mail_text,
    script_shares,
)
from handoff.intake.spam_training import (
    BUSINESS_HAM,
    HELD_OUT_EMAILS,
    choose_threshold,
    covered_scripts,
    fit_spam_model,
    held_out_business_mail,
    held_out_shingles,
    load_business_ham,
    load_spam_corpus,
    near_duplicate_groups,
    overlaps,
    shingles,
    structure_known,
)

CORPUS = Path(__file__).parent / "corpus"

HAM = (
    b"From: Dana Wu <dana@acme.example>\nTo: anna@ourco.example\nSubject: Re: export schedule\n"
    b"Date: Wed, 04 Mar 2026 09:00:00 +0000\nMessage-ID: <x1@acme.example>\nIn-Reply-To: <x0@ourco.example>\n\n"
    b"Hi Anna,\n\nthanks for the call. Could you send the revised export schedule by Friday? Ben will check the\n"
    b"numbers on our side.\n\n> On Tue, Anna wrote:\n> I'll have the draft ready this week.\n\nDana\n"
)
SPAM = (
    b"From: Best Deals <promo@deals4u.example>\nTo: undisclosed-recipients:;\nSubject: LOWEST PRICES!!! Act now\n"
    b"Date: Wed, 04 Mar 2026 09:00:00 +0000\nMessage-ID: <p1@deals4u.example>\nContent-Type: text/html\n\n"
    b"<html><body><p>Dear friend, CLICK HERE for FREE viagra and cialis, 100% guaranteed, no prescription!</p>"
    b"<a href='http://192.168.12.4/buy'>http://www.pharmacy.example</a> Limited time offer, order now and save "
    b"80%! To be removed from our mailing list click <a href='http://192.168.12.4/remove'>here</a></body></html>\n"
)


@pytest.fixture(scope="module")
def shipped() -> SpamModel:
    return SpamModel.load_default()


def _rows(datasets_dir: Path) -> list[dict[str, str]]:
    with (datasets_dir / "mail_spam_ham" / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.datasets
def test_shipped_model_separates_real_spam_from_real_ham(datasets_dir: Path, shipped: SpamModel) -> None:
    """A sanity check of the artifact (it was fitted on these files; quality is the CV in `eval/intake/spam.py`)."""
    rows = _rows(datasets_dir)
    folders = sorted({row["path"].rsplit("/", 1)[0] for row in rows})
    picked = [[row for row in rows if row["path"].startswith(folder + "/")][:4] for folder in folders]
    chosen = [row for group in picked for row in group]
    mails = [parse_mail((datasets_dir / "mail_spam_ham" / row["path"]).read_bytes()) for row in chosen]
    scores = shipped.probabilities(mails)
    spam = np.asarray([row["label"] == "spam" for row in chosen])
    ham = np.asarray([row["klass"] in ("ham", "easy_ham") for row in chosen])
    assert spam.sum() >= 20 and ham.sum() >= 8
    assert scores[spam].min() > scores[ham].max()
    assert all(shipped.is_spam(s) for s in scores[spam]) and not any(shipped.is_spam(s) for s in scores[ham])


def test_shipped_model_scores_a_written_spam_above_a_written_business_mail(shipped: SpamModel) -> None:
    ham, spam = shipped.probability(parse_mail(HAM)), shipped.probability(parse_mail(SPAM))
    assert spam > shipped.threshold > ham


def test_probability_is_deterministic_bounded_and_the_same_alone_or_in_a_batch(shipped: SpamModel) -> None:
    mails = [parse_mail(HAM), parse_mail(SPAM)]
    batch = shipped.probabilities(mails)
    alone = [shipped.probability(mail) for mail in mails]
    assert np.allclose(batch, alone, rtol=0, atol=1e-9)
    assert alone == [shipped.probability(parse_mail(HAM)), shipped.probability(parse_mail(SPAM))]
    assert all(0.0 <= p <= 1.0 for p in alone)


def test_other_filters_verdicts_and_subject_tags_change_nothing(shipped: SpamModel) -> None:
    """The model must not learn the corpora's leaked labels: X-Spam-* headers and [SPAM] subject tags are ignored."""
    plain = parse_mail(SPAM)
    stamped = parse_mail(
        SPAM.replace(b"Subject: LOWEST", b"X-Spam-Flag: NO\nX-Spam-Status: No, score=-5\nSubject: [SPAM] LOWEST")
    )
    assert mail_text(stamped) == mail_text(plain)
    assert shipped.probability(stamped) == pytest.approx(shipped.probability(plain), abs=1e-12)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe garbage \x81", b"Subject: \n\n", b"From: a@b.example\n\n" + b"\xe9" * 50_000],
    ids=["empty", "binary", "blank-subject", "undecodable-body"],
)
def test_bad_or_empty_mail_gets_an_answer_not_an_error(shipped: SpamModel, raw: bytes) -> None:
    mail = parse_mail(raw)
    score = shipped.content_score(mail)
    assert score is None or 0.0 <= score <= 1.0
    if not mail.subject.strip() and not mail.text.strip() and not mail.html:
        assert score is None  # nothing to judge: the gate decides by its header rules alone
    assert 0.0 <= shipped.probability(mail) <= 1.0
    assert content_score(mail) == score


def test_empty_batch_is_empty(shipped: SpamModel) -> None:
    assert shipped.probabilities([]).shape == (0,)


def test_threshold_quarantines_at_most_the_allowed_share_of_ham() -> None:
    ham = np.linspace(0.0, 0.99, 400)  # 0.5 % of 400 = 2 mails may score at or above the threshold
    threshold = choose_threshold(ham)
    assert (ham >= threshold).sum() == 2
    assert choose_threshold(np.asarray([0.1, 0.2])) == 0.5  # never below 0.5
    assert choose_threshold(np.asarray([])) == 0.5


def test_near_duplicates_share_a_group() -> None:
    first = parse_mail(HAM)
    same_id = parse_mail(HAM.replace(b"thanks for the call", b"thanks again"))
    same_text = parse_mail(HAM.replace(b"<x1@acme.example>", b"<x9@acme.example>").replace(b"09:00:00", b"10:00:00"))
    other = parse_mail(SPAM)
    groups = near_duplicate_groups([first, same_id, same_text, other])
    assert groups[0] == groups[1] == groups[2] != groups[3]


def _slice(datasets_dir: Path, per_folder: int, offset: int) -> tuple[list, np.ndarray, np.ndarray]:
    rows = _rows(datasets_dir)
    folders = sorted({row["path"].rsplit("/", 1)[0] for row in rows})
    chosen = []
    for folder in folders:
        chosen += [row for row in rows if row["path"].startswith(folder + "/")][offset : offset + per_folder]
    mails = [parse_mail((datasets_dir / "mail_spam_ham" / row["path"]).read_bytes()) for row in chosen]
    y = np.asarray([int(row["label"] == "spam") for row in chosen])
    ham = np.asarray([row["klass"] in ("ham", "easy_ham") for row in chosen])
    return mails, y, ham


@pytest.mark.datasets
@pytest.mark.slow
def test_training_on_a_slice_writes_an_artifact_that_loads_and_generalises(datasets_dir: Path, tmp_path: Path) -> None:
    mails, y, ham = _slice(datasets_dir, per_folder=12, offset=0)
    model = fit_spam_model(mail_features(mails), y, ham, covered_scripts=covered_scripts(mails, ham), inner_folds=3)
    model.save(tmp_path)
    loaded = SpamModel.load(tmp_path)
    assert loaded.threshold == pytest.approx(model.threshold) and model.threshold >= 0.5
    unseen, y_unseen, _ = _slice(datasets_dir, per_folder=8, offset=100)  # files the slice model never saw
    scores = loaded.probabilities(unseen)
    assert np.allclose(scores, model.probabilities(unseen), atol=1e-6)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y_unseen, scores) > 0.85  # 120 training mails still rank unseen spam above unseen ham


def test_an_artifact_fitted_on_other_features_or_missing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotReady, match="handoff train spam"):
        SpamModel.load(tmp_path)
    for suffix in ("json", "npz"):
        (tmp_path / f"{ARTIFACT_NAME}.{suffix}").write_bytes((ARTIFACT_DIR / f"{ARTIFACT_NAME}.{suffix}").read_bytes())
    card = json.loads((tmp_path / f"{ARTIFACT_NAME}.json").read_text(encoding="utf-8"))
    card["structural_names"] = card["structural_names"][:-1]
    (tmp_path / f"{ARTIFACT_NAME}.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(NotReady, match="other features"):
        SpamModel.load(tmp_path)


def test_a_missing_dataset_is_not_ready_rather_than_an_empty_model(tmp_path: Path) -> None:
    with pytest.raises(NotReady, match="HANDOFF_DATASETS_DIR"):
        load_spam_corpus(tmp_path)


@pytest.mark.datasets
@pytest.mark.slow
def test_handoff_train_spam_cross_validates_and_writes_the_artifact(datasets_dir: Path, tmp_path: Path) -> None:
    """The real CLI on a small copy of the corpus index (the files are links to the shared data, not copies)."""
    rows = _rows(datasets_dir)
    folders = sorted({row["path"].rsplit("/", 1)[0] for row in rows})
    chosen = [r for folder in folders for r in [row for row in rows if row["path"].startswith(folder + "/")][:15]]
    (tmp_path / "datasets" / HELD_OUT_EMAILS).parent.mkdir(parents=True)
    (tmp_path / "datasets" / HELD_OUT_EMAILS).symlink_to(datasets_dir / HELD_OUT_EMAILS)
    (tmp_path / "datasets" / BUSINESS_HAM).mkdir()
    with (datasets_dir / BUSINESS_HAM / "Dataset_email.csv").open(encoding="utf-8", newline="") as handle:
        lin = [row for row in csv.DictReader(handle) if int(row["Email_id"]) <= 40]  # 40 Enron mails
    with (tmp_path / "datasets" / BUSINESS_HAM / "Dataset_email.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(lin[0]))
        writer.writeheader()
        writer.writerows(lin)
    root = tmp_path / "datasets" / "mail_spam_ham"
    for row in chosen:
        target = root / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(datasets_dir / "mail_spam_ham" / row["path"])
    with (root / "labels.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    from handoff.cli.main import build_app

    env = {"HANDOFF_HOME": str(tmp_path / "home"), "HANDOFF_DATASETS_DIR": str(tmp_path / "datasets")}
    out = tmp_path / "artifact"
    shipped_bytes = (ARTIFACT_DIR / f"{ARTIFACT_NAME}.npz").read_bytes()
    result = CliRunner().invoke(build_app(), ["train", "spam", "--output", str(out), "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(chosen) < summary["mails"] <= len(chosen) + 40
    assert 0.0 <= summary["cv_metrics"]["spam_caught"] <= 1.0
    assert summary["cv_business_ham_quarantined"] is not None
    model = SpamModel.load(out)
    assert model.card["cv_metrics"]["mail_spam_ham"] == summary["cv_metrics"]
    assert model.card["ham_by_source"][BUSINESS_HAM] == summary["mails"] - len(chosen)
    assert (ARTIFACT_DIR / f"{ARTIFACT_NAME}.npz").read_bytes() == shipped_bytes  # --output leaves the shipped one


def test_the_fast_scoring_path_equals_the_training_design_matrix(shipped: SpamModel) -> None:
    """Serving sums block by block; training reads `design_matrix`: the two must give one logit."""
    from handoff.intake.spam_model import design_matrix

    mails = [parse_mail(HAM), parse_mail(SPAM), parse_mail(b"Subject: hi\n\n")]
    matrix = design_matrix(mail_features(mails), shipped.word_idf, shipped.char_idf, shipped.mean, shipped.scale)
    raw = np.asarray(matrix @ shipped.coef).ravel() + shipped.intercept
    slope, offset = shipped.calibration
    assert np.allclose(shipped.logits(mails), slope * raw + offset, atol=1e-5)


def _dev_mails(datasets_dir: Path) -> tuple[list, np.ndarray]:
    _, mails, required = held_out_business_mail(datasets_dir)
    assert len(mails) >= 100
    return mails, required


@pytest.mark.datasets
def test_real_business_mail_it_never_saw_is_let_through(datasets_dir: Path, shipped: SpamModel) -> None:
    """Enron inbox mail of the extraction development set (kept out of training): task-bearing mail quarantined must
    stay within the 2 % target, and business mail must score low as a whole, not just under the line."""
    mails, required = _dev_mails(datasets_dir)
    scores = shipped.content_scores(mails)
    assert all(score is not None for score in scores)  # English mail: the model judges every one
    values = np.asarray(scores, dtype=float)
    quarantined = values >= shipped.threshold
    assert quarantined[required > 0].mean() <= 0.02
    assert required[quarantined].sum() <= 0.02 * required.sum()
    assert np.median(values) < 0.5 * shipped.threshold


@pytest.mark.parametrize("name", ["big5_direct.eml", "iso2022jp_direct.eml", "missing_charset_gbk.eml"])
def test_the_model_abstains_on_chinese_and_japanese_mail_its_ham_never_covered(shipped: SpamModel, name: str) -> None:
    mail = parse_mail((CORPUS / name).read_bytes())
    assert "LATIN" in shipped.covered_scripts and "CJK" not in shipped.covered_scripts
    assert shipped.content_score(mail) is None and content_score(mail) is None
    assert not shipped.judges(mail)
    assert 0.0 <= shipped.probability(mail) <= 1.0  # the raw score still exists; the gate is just not given it
    covering = dataclasses.replace(shipped, covered_scripts=(*shipped.covered_scripts, "CJK", "HIRAGANA", "KATAKANA"))
    assert covering.content_score(mail) == pytest.approx(shipped.probability(mail))


def test_english_and_accented_latin_mail_is_judged(shipped: SpamModel) -> None:
    for name in ("rfc2047_and_raw_8bit_headers.eml", "outlook_forward_en_qp_latin1.eml"):
        assert shipped.content_score(parse_mail((CORPUS / name).read_bytes())) is not None
    assert shipped.content_score(parse_mail(HAM)) is not None


def test_script_shares_count_letters_by_script() -> None:
    assert script_shares("Grüße, Zoë") == {"LATIN": 1.0}
    shares = script_shares("请把接口文档发给我们 ok")
    assert shares["CJK"] == pytest.approx(10 / 12) and shares["LATIN"] == pytest.approx(2 / 12)
    assert set(script_shares("お願いします、カタカナ")) == {"HIRAGANA", "CJK", "KATAKANA"}  # 願 is a Han ideograph
    assert script_shares("12345 !!") == {}


def test_a_script_is_covered_only_with_enough_ham_written_in_it() -> None:
    english = [parse_mail(HAM)] * 25
    chinese = [parse_mail("Subject: 项目\n\n请把接口文档发给我们。".encode())] * 25
    assert covered_scripts(english + chinese, np.asarray([True] * 25 + [False] * 25)) == ("LATIN",)
    assert covered_scripts(english + chinese, np.asarray([True] * 50)) == ("CJK", "LATIN")


def test_structure_may_only_accuse(shipped: SpamModel) -> None:
    """Every structural weight is >= 0: a missing cue (no link, not a reply) never pushes a mail towards spam."""
    structure = shipped.coef[shipped.word_idf.size + shipped.char_idf.size :]
    assert structure.shape == (len(STRUCTURAL_NAMES),)
    assert (structure >= 0).all() and (structure > 0).sum() >= 5


def test_a_rebuilt_mail_s_unknown_structure_counts_as_the_mean(shipped: SpamModel) -> None:
    """Training's business ham is rebuilt from text: its wrapper's structure must not reach the logit."""
    features = mail_features([parse_mail(SPAM)])
    known = structure_known(np.asarray(["body"]))
    assert [name for name, k in zip(STRUCTURAL_NAMES, known[0], strict=True) if k] == list(BODY_COLUMNS)
    masked = MailFeatures(features.words, features.chars, features.dense, known=known)
    other = MailFeatures(features.words, features.chars, np.where(known, features.dense, 99.0), known=known)
    mean = MailFeatures(features.words, features.chars, np.where(known, features.dense, shipped.mean), known=None)
    assert shipped.feature_logits(masked) == pytest.approx(shipped.feature_logits(other))
    assert shipped.feature_logits(masked) == pytest.approx(shipped.feature_logits(mean))
    assert shipped.feature_logits(masked) != pytest.approx(shipped.feature_logits(features))


def test_overlap_is_a_shared_text_not_a_stock_phrase() -> None:
    held_out = shingles("Please do not reply to this e-mail")
    long_text = "Please do not reply to this e-mail. " + " ".join(f"word{i}" for i in range(60))
    assert not overlaps(long_text, held_out)  # one shared run of 61
    assert overlaps("Please do not reply to this e-mail.", held_out)  # the whole text
    assert not overlaps("", held_out)


@pytest.mark.datasets
def test_business_ham_keeps_clear_of_the_held_out_development_mail(datasets_dir: Path) -> None:
    held_out = held_out_shingles(datasets_dir)
    corpus, dropped = load_business_ham(datasets_dir, held_out)
    assert len(corpus) >= 900 and 1 <= dropped <= 50  # Enron's automated HourAhead reports share one template
    assert not any(overlaps(mail.text, held_out) for mail in corpus.mails)
    assert (corpus.classes == "ham").all() and (corpus.kinds == "body").all()
    dev, _ = _dev_mails(datasets_dir)
    assert overlaps(dev[0].text, held_out)  # the check sees the development mail itself
