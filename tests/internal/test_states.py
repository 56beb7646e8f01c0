"""The state tables of ``streamcore._states``: totality over every state x input, reachability,
and the generated diagrams in docs/design.md being current (internal: reads the private tables)."""

from __future__ import annotations

import enum
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamcore import LocalProtocolError
from streamcore._states import TABLES, render_section, replace_section, step

DESIGN = pathlib.Path(__file__).resolve().parents[2] / "docs" / "design.md"


@pytest.mark.parametrize("name", list(TABLES))
def test_every_state_and_input_is_a_move_or_an_error(name: str) -> None:
    """Totality (h2 style): for every state x input, step() gives a state of the same enum, or
    LocalProtocolError naming both; nothing else can happen."""
    table, states, inputs, _initial = TABLES[name]
    for s in states:
        for i in inputs:
            if (s, i) in table:
                assert isinstance(step(table, s, i), states)
            else:
                with pytest.raises(LocalProtocolError) as ei:
                    step(table, s, i, name)
                assert s.value in str(ei.value) and i.value in str(ei.value)


@pytest.mark.parametrize("name", list(TABLES))
def test_every_state_is_reachable_and_entries_are_typed(name: str) -> None:
    """No dead rows: each state is reachable from the initial one, and every entry maps the table's
    own state and input enums."""
    table, states, inputs, initial = TABLES[name]
    for (s, i), d in table.items():
        assert isinstance(s, states) and isinstance(i, inputs) and isinstance(d, states)
    seen = {initial}
    frontier = [initial]
    while frontier:
        s = frontier.pop()
        for (src, _i), dst in table.items():
            if src is s and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(states)


@given(st.data())
def test_random_walks_stay_in_the_tables(data: st.DataObject) -> None:
    """Any sequence of inputs either follows the table or raises, and a refused input leaves the
    state as it was (the caller keeps the old state)."""
    name = data.draw(st.sampled_from(list(TABLES)))
    table, _states, inputs, initial = TABLES[name]
    state: enum.Enum = initial
    for i in data.draw(st.lists(st.sampled_from(list(inputs)), max_size=30)):
        try:
            state = step(table, state, i)
        except LocalProtocolError:
            assert (state, i) not in table


def test_design_doc_diagrams_are_current() -> None:
    """docs/design.md holds the diagrams generated from these tables; regenerate with
    ``python -m streamcore._states --write docs/design.md``."""
    text = DESIGN.read_text(encoding="utf-8")
    assert render_section() in text
    assert replace_section(text) == text
