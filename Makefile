# Two commands for a new user: `make run` and `make test`. Both set up .venv themselves.
.PHONY: setup run test bench bench-batch notebooks lab clean

EXTRAS = test,viz,dist,analysis,notebooks

setup:
	bash scripts/bootstrap.sh $(EXTRAS)

run:
	bash scripts/bootstrap.sh dist
	rm -rf results/quick  # a fresh store: runs made by an older model version must not mix in
	.venv/bin/cloudmarket sweep experiments/specs/quick.toml --out results/quick
	.venv/bin/cloudmarket summary results/quick
	.venv/bin/cloudmarket plot results/quick --vendor huawei --out results/quick/huawei_share.png

test:
	bash scripts/test.sh

bench:
	bash scripts/bootstrap.sh $(EXTRAS)
	.venv/bin/python benchmarks/bench_model.py
	.venv/bin/python benchmarks/bench_batch.py
	.venv/bin/python benchmarks/bench_backends.py

# Only the runner vs mesa.batch_run (50 to 5,000 runs; store files, DuckDB query): benchmarks/RESULTS_batch.md
bench-batch:
	bash scripts/bootstrap.sh $(EXTRAS)
	.venv/bin/python benchmarks/bench_batch.py

# Run the analysis notebooks at their full settings; HTML copies with figures in notebooks/out/.
# Their experiment stores live there too: start afresh so a changed model never mixes in.
notebooks:
	bash scripts/bootstrap.sh $(EXTRAS)
	rm -rf notebooks/out
	.venv/bin/python tests/test_notebooks.py --html notebooks/out

# JupyterLab from the venv, on this machine only; open the URL it prints (with its token).
# Jupyter refuses to run as root unless told (containers and CI machines often are root).
LAB_AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab:
	bash scripts/bootstrap.sh $(EXTRAS)
	.venv/bin/jupyter lab --ip 127.0.0.1 --no-browser --notebook-dir notebooks $(LAB_AS_ROOT)

clean:
	rm -rf runs results artifacts .pytest_cache
