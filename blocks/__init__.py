"""Prefect Blocks of the MEMO task runner (imported only when a flow is given a block name)."""


def apply_blocks(settings, *, database_block=None, container_block=None):
    """``settings`` with the named Prefect blocks' values over them (``blocks.memo.apply_blocks``),
    imported here so that a flow given no block name never imports the blocks.

    Args:
        settings: the run's settings (the caller's, else the environment's).
        database_block: a ``memo-database-credentials`` block's name; its URL replaces ``database_url``.
        container_block: a ``memo-container-settings`` block's name; its sandbox, image, timeout,
            concurrency and container settings replace the settings'.

    Returns:
        A copy of ``settings``; the blocks win over the environment.

    Raises:
        ValueError: Prefect has no block of that name.
        ConfigError: the container block's Docker Host has ``client_kwargs`` (not applied to the sandbox).
    """
    from blocks.memo import apply_blocks as apply

    return apply(settings, database_block=database_block, container_block=container_block)
