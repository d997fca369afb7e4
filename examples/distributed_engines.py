"""Would dask, ray or scikit-learn-intelex run this grid search faster?

The user story: a grid search over a random forest is slow, and a colleague
says "put it on dask" while another says "use scikit-learn-intelex".
``profile(engines=[...])`` measures both, side by side with joblib's own
loky and threading backends, interleaved with the search as written:

* dask runs the search's joblib tasks on local clusters on loopback that
  sktune starts (2 workers x 1 thread and 1 worker x 2 threads on 2 cores)
  and closes; the result says what each cost to start and how much slower
  or faster than loky each call was;
* scikit-learn-intelex's forest replaces the stock one (same parameters),
  and is recommended only if its predictions match: oneDAL's forests draw
  other trees, so here it is reported as changing the answer, with how much.

The second part profiles the user's own dask cluster (``client=``), as one
would a real cluster of several machines: one candidate runs on it, and the
client is left as it was. Engines that are not installed are listed under
"Not run" with the install command (``pip install "sktune[dask]"``,
``[ray]``, ``[intel]``).

Run: ``python examples/distributed_engines.py`` (about 2 minutes on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` runs it in about 30 s).
"""

from _small import BUDGET, scaled
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import sktune


def main():
    X, y = make_classification(n_samples=scaled(3000, 600), n_features=20, random_state=0)
    search = GridSearchCV(RandomForestClassifier(n_estimators=scaled(50, 10), random_state=0),
                          {"max_depth": [4, 8, None]}, cv=3)

    result = sktune.profile(search, X, y, budget=BUDGET, engines=["dask", "intelex"],
                            space=sktune.ConfigSpace(n_jobs="auto", backend=["loky"]))
    print(result)

    # The user's own cluster: a LocalCluster here, a scheduler address on a
    # real cluster (Client("tcp://scheduler:8786")).
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print('\ndask.distributed is not installed: pip install "sktune[dask]"')
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        on_cluster = sktune.profile(search, X, y, budget=BUDGET, client=client,
                                    space=sktune.ConfigSpace())
        print("\nOn your cluster:", on_cluster.recommendation.verdict, "-",
              on_cluster.best.describe())
        for note in on_cluster.notes:
            if note.startswith(("Connecting", "Scattering")):
                print("  " + note)


if __name__ == "__main__":  # dask's worker processes import this file again
    main()
