"""Quality (eval) and speed (bench) runs: each prints its numbers beside anchors and saves them as JSON."""
