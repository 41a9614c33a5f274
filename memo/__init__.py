"""memo-taskrunner's domain core: MEMO tasks from selection to export, free of Prefect.

One module per concept (python-rq style): ``selection`` decides what is due,
``dependencies`` reads a script's library imports, ``tree`` lays out the files a
script runs in, ``exports`` owns the client's export files, ``database`` is the
only module that speaks SQL, ``sandbox`` runs a tree, and ``runner`` ties one
task's run together. Prefect lives in the top-level ``flows`` and ``blocks``.
"""
