"""Build the C ring buffer extension; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "edge_agent.audio._ringbuf",
            sources=["edge_agent/audio/_ringbuf.c"],
            extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra"],
        )
    ]
)
