"""Tekton Tasks, StepActions and the Pipeline, their step scripts run for real against the registry."""
