# from-import of dataclasses' private exec helper
from dataclasses import _create_fn
