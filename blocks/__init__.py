"""Prefect Blocks of the MEMO task runner (imported only when a flow is given a block name)."""


def apply_blocks(settings, *, database_block=None, container_block=None):
    from blocks.memo import apply_blocks as apply

    return apply(settings, database_block=database_block, container_block=container_block)
