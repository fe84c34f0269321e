"""The core install serves everything, recommendations included, without the `oao[insights]` extra:
only training, import, export and forecasting need pandas and friends, and they import them lazily."""

import subprocess
import sys
import textwrap

HEAVY = ("numpy", "pandas", "pyarrow", "duckdb", "implicit", "statsforecast", "lightgbm", "dask", "scipy")


def test_building_the_app_and_its_worker_imports_none_of_the_insights_extra(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from oao.app import create_app
        from oao.config import Settings
        import oao.worker, oao.cli, oao.models
        create_app(Settings(database_url="sqlite:///{tmp_path}/x.sqlite3", embedded_worker=False))
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print(",".join(loaded))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"
