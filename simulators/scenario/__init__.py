"""Scenarios: a site, a timeline of happenings, and what the hub must do about them.

`load_scenario(path)` reads and checks a scenario file; `run_scenario(scenario, api, options)`
runs it against a hub over MQTT and HTTP and returns a `ScenarioResult`. See docs/scenarios.md.
"""

from simulators.scenario.hubapi import HubApi, HubError
from simulators.scenario.loader import load_scenario, parse_scenario
from simulators.scenario.model import Scenario
from simulators.scenario.report import ScenarioResult, junit_xml, results_table
from simulators.scenario.runner import RunOptions, ScenarioError, run_scenario

__all__ = ["HubApi", "HubError", "RunOptions", "Scenario", "ScenarioError", "ScenarioResult",
           "junit_xml", "load_scenario", "parse_scenario", "results_table", "run_scenario"]
