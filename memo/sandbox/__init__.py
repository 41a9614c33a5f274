"""Sandboxes that run a script tree: ``docker`` (production) and ``process`` (demo, no engine)."""

from __future__ import annotations

from memo.sandbox.base import Sandbox, SandboxJob, SandboxResult, StderrTail


def make_sandbox(settings) -> Sandbox:
    """The sandbox ``settings.sandbox`` names, given only the settings it uses.

    The one place that reads a whole ``Settings`` for a sandbox; the docker SDK is
    imported only when the docker sandbox is chosen.

    Args:
        settings: the runner's ``memo.settings.Settings``.

    Returns:
        A ``ProcessSandbox`` or a ``DockerSandbox``.

    Raises:
        ValueError: an allow-list of the container settings that does not parse.
    """
    if settings.sandbox == "process":
        from memo.sandbox.process import ProcessSandbox

        return ProcessSandbox(settings.container.environment, stderr_tail=settings.stderr_tail)
    from memo.sandbox.docker import DockerSandbox

    return DockerSandbox(settings.container, settings.docker_image, stderr_tail=settings.stderr_tail)


__all__ = ["Sandbox", "SandboxJob", "SandboxResult", "StderrTail", "make_sandbox"]
