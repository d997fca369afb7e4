import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from sktune.workload import Workload, compare_outputs, data_signature


@pytest.fixture
def data():
    return make_classification(n_samples=600, n_features=8, random_state=0)


@pytest.mark.skipif(__import__("joblib").cpu_count() < 2, reason="needs 2 cores")
def test_compare_outputs_kmeans_threads_equivalent(data):
    # Check that KMeans fitted with 1 and with 2 OpenMP threads (tiny reduction-
    # order differences) is judged equivalent (checklist 19).
    X, _ = data
    outputs = []
    for n_threads in (1, 2):
        with threadpool_limits(n_threads, user_api="openmp"):
            km = KMeans(n_clusters=4, n_init=2, random_state=0).fit(X)
            outputs.append(km.transform(X))
    equivalent, detail = compare_outputs(*outputs)
    assert equivalent, detail


def test_compare_outputs_float32_model_differs(data):
    # Check that a HistGradientBoosting model trained on float32 data is judged
    # different from the float64 one (checklist 19/21).
    X, y = data
    wl = Workload(HistGradientBoostingClassifier(max_iter=30, random_state=0), X, y)
    ref = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    f32 = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(
        X.astype(np.float32), y)
    equivalent, detail = compare_outputs(wl.output(ref, None), wl.output(f32, None))
    assert not equivalent and "max abs difference" in detail


def test_compare_outputs_labels_and_shapes():
    # Check the label-agreement rule and the shape check.
    a = np.zeros(1000, dtype=int)
    b = a.copy()
    b[:5] = 1
    assert compare_outputs(a, b)[0]  # 99.5% agree
    b[:20] = 1
    assert not compare_outputs(a, b)[0]  # 98% agree
    assert not compare_outputs(np.zeros(3), np.zeros(4))[0]
    assert compare_outputs(None, np.zeros(3)) == (True, "no output to compare")


def test_workload_output_prefers_probabilities(data):
    # Check that after fit the compared output is predict_proba on X.
    X, y = data
    est = LogisticRegression().fit(X, y)
    out = Workload(LogisticRegression(), X, y).output(est, None)
    assert out.shape == (600, 2)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda X: X, {"type": "numpy.ndarray", "order": "C", "dtype": "float64"}),
        (lambda X: np.asfortranarray(X), {"order": "F"}),
        (lambda X: X.astype(np.float32), {"dtype": "float32"}),
        (lambda X: pd.DataFrame(X), {"type": "pandas.DataFrame", "dtype": "float64"}),
        (lambda X: sp.csr_matrix(X * (X > 1)), {"type": "scipy.csr_matrix"}),
    ],
    ids=["ndarray", "fortran", "float32", "dataframe", "csr"],
)
def test_data_signature_keeps_what_was_given(data, make, expected):
    # Check that the signature describes the data as given, without converting it
    # (checklist 28).
    X, y = data
    sig = data_signature(make(X), y)
    assert sig["n_samples"] == 600 and sig["n_features"] == 8 and sig["y_shape"] == [600]
    for key, value in expected.items():
        assert sig[key] == value
    if expected.get("type") == "scipy.csr_matrix":
        assert sig["nnz"] > 0


def test_workload_output_multi_output_probabilities():
    # Check that a ragged list output (multi-output predict_proba) is compared.
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    Y = np.column_stack([rng.integers(0, 2, 80), rng.integers(0, 3, 80)])
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    out = Workload(RandomForestClassifier(), X, Y).output(est, None)
    assert out.ndim == 1 and out.size == 80 * (2 + 3)
    assert compare_outputs(out, out.copy())[0]


def test_workload_output_coo_input():
    # Check that a COO matrix (not subscriptable) with many rows is handled.
    X = sp.random(2500, 6, density=0.3, format="coo", random_state=0)
    y = np.arange(2500) % 2
    est = LogisticRegression().fit(X, y)
    assert Workload(LogisticRegression(), X, y).output(est, None).shape == (2000, 2)


def test_compare_outputs_clusters_up_to_renumbering():
    # Check that cluster labels agree when one numbering maps onto the other
    # (k-means finding the same clusters in another order), and only for
    # clusterers: for a classifier, swapped classes are a different answer.
    reference = np.repeat([0, 1, 2], 100)
    renumbered = np.repeat([2, 0, 1], 100)
    assert not compare_outputs(reference, renumbered)[0]
    equivalent, detail = compare_outputs(reference, renumbered, clusters=True)
    assert equivalent and detail == ("100.00% of samples in the same clusters "
                                     "(labels renumbered)")
    merged = np.repeat([0, 0, 1], 100)  # two clusters merged: not a renumbering
    equivalent, detail = compare_outputs(reference, merged, clusters=True)
    assert not equivalent and detail.startswith("66.67%")


def test_workload_clusters():
    # Check which workloads compare outputs as cluster labels.
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.zeros((4, 2))
    assert Workload(make_pipeline(StandardScaler(), KMeans()), X).clusters
    assert not Workload(KMeans(), X, task="transform").clusters
    assert not Workload(StandardScaler(), X).clusters
