"""Builds the compiled part of AgentSLO: the span mapper's core (collector/_rows.pyx), the
rules of what a span's attributes mean (collector/_semantics.pyx), the Arrow column builders
the mapper writes into (collector/_builders.pyx) and the writer's compact set of recent span
keys (collector/_keyset.pyx).

Everything else is in pyproject.toml; setuptools reads ext_modules only from here.
"""

from Cython.Build import cythonize
from setuptools import setup

setup(
    ext_modules=cythonize(
        ["collector/_builders.pyx", "collector/_keyset.pyx", "collector/_rows.pyx", "collector/_semantics.pyx"],
        compiler_directives={"language_level": 3},
    ),
)
