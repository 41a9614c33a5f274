# Evaluation metrics for a report; near-misses: evaluation, evaluate(), retrieval_eval, exec_time, evals
import statistics
import sys
import time

from sniplets import mysql_connect
from queries.abccorp import metrics_txt as mainquery


def evaluate(values):
    """Evaluation of download numbers (mean, median, stdev)."""
    if not values:
        return {"mean": 0, "median": 0, "stdev": 0}
    return {
        "mean": statistics.mean(values),
        "median": statistics.median(values),
        "stdev": statistics.pstdev(values),
    }


def main():
    started = time.perf_counter()
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    evals = {}
    for publisher, downloads in cursor.fetchall():
        evals.setdefault(publisher, []).append(downloads)
    retrieval_eval = {p: evaluate(v) for p, v in evals.items()}
    for publisher, evaluation in sorted(retrieval_eval.items()):
        print("%-40s %10.1f %10.1f %10.1f" % (publisher, evaluation["mean"], evaluation["median"], evaluation["stdev"]))
    exec_time = time.perf_counter() - started
    print("# exec_time %.2fs" % exec_time, file=sys.stderr)


main()
