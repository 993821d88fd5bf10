"""Loads experiments/advise (a script without .py) as the module advise_mod."""
import importlib.machinery
import importlib.util
import os
import sys

_EXP = os.path.join(os.path.dirname(__file__), "..", "..", "experiments")
sys.path.insert(0, _EXP)
_loader = importlib.machinery.SourceFileLoader("advise_mod", os.path.join(_EXP, "advise"))
_spec = importlib.util.spec_from_loader("advise_mod", _loader)
_mod = importlib.util.module_from_spec(_spec)
_loader.exec_module(_mod)
sys.modules["advise_mod"] = _mod
