/**
 * procwatch's own metrics, which the restart handler and the fleet manager publish and the
 * dashboard reads. The Lambdas emit them as CloudWatch embedded-metric-format logs (Powertools
 * Metrics), so they need no cloudwatch:PutMetricData permission. The dashboard finds them with
 * SEARCH by namespace and name, so any dimension the emitters add (Powertools adds `service`)
 * still shows.
 */
export const PROCWATCH_METRIC_NAMESPACE = "procwatch";

export const PROCWATCH_METRICS = {
  /** restart handler: a restart command was sent (count 1 per SendCommand). */
  restartsSent: "RestartsSent",
  /** restart handler: the agent reported the process back after a restart. */
  restartsSucceeded: "RestartsSucceeded",
  /** restart handler: the restart command failed, timed out or the process did not come back. */
  restartsFailed: "RestartsFailed",
  /** restart handler: the restart budget was exhausted; a human was asked to step in. */
  gaveUp: "GaveUp",
  /** restart handler: bad, foreign or unmatched input (alarm, command status) dropped without an AWS write. */
  inputsDropped: "InputsDropped",
  /** restart handler: an alarm transition older than the newest one seen for its process, dropped. */
  staleTransitionsDropped: "StaleTransitionsDropped",
  /** restart handler: a duplicate that found another invocation mid-restart; thrown so the platform redelivers it. */
  duplicatesDeferred: "DuplicatesDeferred",
  /** fleet manager, per reconcile (names as apps/fleet-manager emits them). */
  alarmsCreated: "AlarmsCreated",
  alarmsUpdated: "AlarmsUpdated",
  alarmsDeleted: "AlarmsDeleted",
  alarmActionsToggled: "AlarmActionsToggled",
  changeFailures: "ChangeFailures",
  changesDeferred: "ChangesDeferred",
  instancesWithTagProblems: "InstancesWithTagProblems",
  /** fleet manager: a plan would have deleted or rewritten the alarms of more instances than the guard allows; those changes were refused. */
  massChangeRefused: "MassChangeRefused",
  /** fleet manager: planned changes skipped because the world moved on (precondition re-check) or a delete's managed-by tag was not this deployment's. */
  changesSkipped: "ChangesSkipped",
  /** fleet manager: hosts whose named profile could not be read; their alarms were left as they were. */
  instancesWithUnreadableProfile: "InstancesWithUnreadableProfile",
} as const;

/** Powertools' `service` dimension value of each Lambda (POWERTOOLS_SERVICE_NAME). */
export const PROCWATCH_SERVICE_NAMES = {
  restartHandler: "procwatch-restart-handler",
  fleetManager: "procwatch-fleet-manager",
} as const;
