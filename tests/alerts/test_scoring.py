"""Integer account keys change nothing in the features: same rows, same values, on the demo CRM."""

from __future__ import annotations

from datetime import date

import pandas as pd

from handoff.alerts.scoring import decode_index, encode_account_ids
from handoff.crm.demo import generate
from handoff.risk.features import account_features


def test_encoded_ids_give_identical_features() -> None:
    frames = generate(accounts=60, seed=11)
    usage = frames["usage"]
    frames["usage"] = usage.assign(account_id=usage["account_id"].where(usage.index % 3 != 0, None))
    as_of = date(2026, 9, 1)
    expected = account_features(frames, as_of)
    encoded, ids = encode_account_ids(frames)
    got = decode_index(account_features(encoded, as_of), ids)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(
        expected.sort_index(), got.sort_index(), check_index_type=False, check_dtype=False, check_names=False
    )
