"""Time train's non-NPS stages (load, churn, drift profile, reasons, drivers) on one programme, with the NPS model
of a bundle trained on the same data (its out-of-fold predictions stood in by in-sample ones: timing only).

Usage: python experiments/scale/train_stages_ab.py STAGES PROFILE_OUT KDA_CSV CONFIG BUNDLE   (PROFILE_OUT '' for none)
Run it once with PYTHONPATH at the old tree and once at the new one; prints wall and CPU seconds per stage, the
churn metrics and the drivers summary as JSON, and writes the kda_global table to KDA_CSV."""
import json, sys, time, logging, cProfile
import numpy as np, pandas as pd
from pathlib import Path
from sklearn.metrics import roc_auc_score
from cxpredict import threads
from cxpredict.config import load_config
from cxpredict.data.customers import load_customers
from cxpredict.io.bundle import load_bundle
from cxpredict.stages import Training, Batch, run_stages
from cxpredict.workflows import train as T
from cxpredict.models.stages import ChurnStage, NpsStage
from cxpredict.explain.stage import DriverStage
from cxpredict.workflows.drift import profile_training
from cxpredict.actions.strategy import ActionStage
from cxpredict.models.stages import ReasonStage

only = sys.argv[1].split(",") if len(sys.argv) > 1 else ["load", "churn", "drift", "drivers"]
prof = sys.argv[2] if len(sys.argv) > 2 else None
cfg = load_config(Path(sys.argv[4]))
threads.use(cfg.n_jobs)
out = {}
t, c = time.perf_counter(), time.process_time(); data = load_customers(cfg); out["load"] = time.perf_counter() - t; out["load_cpu"] = time.process_time() - c
absent = cfg.absent_stages()
training = Training(data, None, None, cfg.seed, absent, T._checked(cfg, data, absent))
t = time.perf_counter(); manifest, X, drivers_cfg = T._features(cfg, data, None, absent); out["features"] = time.perf_counter() - t
training.features, training.manifest = X, manifest
b = load_bundle(sys.argv[5])
nps = b.nps
resp = data.is_respondent
nps.oof_ = nps.predict_frame(X[resp])  # stands in for the CV out-of-fold predictions (timing only)
if hasattr(T, "_score_training"):
    training.scored = nps.predict_frame(X)  # what SurveyStage.fit leaves (fit_nps_stage's nps_predict)
training.fitted["nps"] = NpsStage(nps) if not hasattr(NpsStage, "__dataclass_fields__") or "response" not in NpsStage.__dataclass_fields__ else NpsStage(nps)
training.weights = np.ones(int(resp.sum()))
pr = cProfile.Profile() if prof else None
def timed(name, fn):
    if pr: pr.enable()
    t, c = time.perf_counter(), time.process_time(); r = fn(); out[name] = time.perf_counter() - t
    out[name + "_cpu"] = time.process_time() - c
    if pr: pr.disable()
    return r
churn = timed("churn", lambda: ChurnStage.fit(training, cfg.churn))
training.fitted["churn"] = churn
out["churn_metrics"] = {k: churn.model.metrics_[k] for k in ("auc", "n_train", "n_calibration", "brier", "ece") if k in churn.model.metrics_}
out["churn_metrics"]["auc_without_nps"] = churn.model.metrics_.get("auc_without_nps")
def drift():
    if hasattr(T, "_score_training"):
        training.scored = T._score_training(training, data.frame, X)
    else:
        training.scored = run_stages(list(training.fitted.values()), Batch(data.frame, X, pd.DataFrame(index=X.index)))
    return profile_training(manifest, X, training.scored, data.score.to_numpy(), cfg.scale)
prof_ = timed("drift_profile", drift)
models, rules = T.fitting_order(cfg, drivers_cfg)
for stage, settings in rules:
    f = timed(stage.name, lambda: stage.fit(training, settings))
    if f is not None: training.fitted[f.name] = f
kda = training.reports.get("kda")
if kda is not None:
    kda["kda_global"].to_csv(sys.argv[3] if len(sys.argv) > 3 else "/tmp/tr/kda_global.csv", index=False)
out["drivers_metrics"] = training.metrics.get("drivers")
print(json.dumps(out, indent=1, default=str))
if pr: pr.dump_stats(prof)
