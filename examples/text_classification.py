"""A text-classification pipeline where no setting helps, and sktune says so.

The user story: a ``TfidfVectorizer`` feeds a linear classifier
(``SGDClassifier``) that routes short support messages to the billing or
the shipping team. Someone asks whether ``n_jobs`` or another joblib backend
would speed up the nightly retraining. Most of the time goes to tokenising
strings in Python, on one core whatever the settings, and
``SGDClassifier(n_jobs=...)`` splits the work by class (one-vs-all): with two
classes there is one binary problem, nothing to split. sktune measures what
can matter, finds nothing faster beyond noise, and says so: the recommendation is the pipeline
as written,
with the reason and the evidence. Its step table shows where the time goes
instead (the vectoriser), which is where the next effort belongs.

The messages are generated from a fixed vocabulary, so nothing is downloaded.

What the user does next: keep the pipeline as written; to go faster, work on
the step sktune names (fewer n-grams, ``HashingVectorizer``, ``min_df``).

Run: ``python examples/text_classification.py`` (about 20 s on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the corpus to a smoke test of a few
seconds).
"""

import numpy as np
from _small import BUDGET, scaled
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline

import sktune

TOPICS = {
    "billing": "invoice charge refund payment card price plan subscription receipt tax",
    "shipping": "parcel delivery courier tracking address late warehouse package box lost",
}
COMMON = ("please help hello thanks order today still again need urgent week customer "
          "service question problem issue since yesterday working").split()


def make_messages(n_messages, seed=0):
    """Short messages mixing one topic's words with common ones, and their topic."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    labels = rng.integers(0, len(names), size=n_messages)
    messages = []
    for label in labels:
        topic = TOPICS[names[label]].split()
        words = rng.choice(topic, size=rng.integers(3, 8)).tolist()
        words += rng.choice(COMMON, size=rng.integers(5, 15)).tolist()
        rng.shuffle(words)
        messages.append(" ".join(words))
    return messages, np.array(names)[labels]


X, y = make_messages(scaled(40_000, 3000))
pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)),
                         SGDClassifier(random_state=0))

result = sktune.profile(pipeline, X, y, budget=BUDGET)
print(result)

# The part to act on: the verdict and its reason.
rec = result.recommendation
print(f"\nVerdict: {rec.verdict}. Run under: {rec.best.describe()}.")
print(f"Why: {rec.explanation}")
