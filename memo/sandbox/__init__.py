"""Sandboxes that run a script tree: ``docker`` (production) and ``process`` (demo, no engine)."""

from __future__ import annotations

from memo.sandbox.base import Sandbox, SandboxJob, SandboxResult, StderrTail


def make_sandbox(settings) -> Sandbox:
    """The sandbox ``settings.sandbox`` names; the docker SDK is imported only when used."""
    if settings.sandbox == "process":
        from memo.sandbox.process import ProcessSandbox

        return ProcessSandbox(settings)
    from memo.sandbox.docker import DockerSandbox

    return DockerSandbox(settings)


__all__ = ["Sandbox", "SandboxJob", "SandboxResult", "StderrTail", "make_sandbox"]
