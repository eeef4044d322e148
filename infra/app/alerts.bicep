// Alerts an operator watches (docs/infra.md, Signals and alerts): log search alert rules over the app's
// Application Insights traces (the run signals of shared/telemetry.py and the Functions host's own lines),
// each notifying one action group (an email receiver when alertEmail is set).
param applicationInsightsName string
param actionGroupName string
param rulePrefix string
param location string
param tags object = {}

@description('Email address that receives the alerts; empty: the action group has no receiver yet (add one in the portal).')
param alertEmail string = ''

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource actionGroup 'microsoft.insights/actionGroups@2018-03-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'connector'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
      }
    ]
  }
}

// Every signal record's fields: its message holds `connector.signal {json}` after the job's log prefix.
var signals = 'traces | where message contains "connector.signal " | extend s = parse_json(substring(message, indexof(message, "connector.signal ") + 17))'

resource quarantined 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${rulePrefix}-connection-quarantined'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Connector: a connection is quarantined'
    description: 'Repeated sync failures held a connection back (hourly, then daily retries); see last_error in GET /api/connections/{id}/status.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${signals} | where tostring(s.signal) == "connection.quarantined" | project timestamp, connection = tostring(s.connection_id), error_code = tostring(s.error_code)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'connection'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource deletionHeld 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${rulePrefix}-deletion-threshold-held'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Connector: a sync run is held by the deletion threshold'
    description: 'A run would remove more objects than the connection allows; review and POST /api/connections/{id}/sync/approve.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: '${signals} | where tostring(s.signal) == "sync.run" and tostring(s.outcome) == "awaiting_approval" | project timestamp, connection = tostring(s.connection_id), removals = toint(s.removals_pending)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'connection'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource rotationBlocked 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${rulePrefix}-rotation-blocked'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Connector: password rotation is blocked'
    description: 'The app cannot reset passwords in a tenant (no directory role for resets); the remedy is in GET /api/connections/{id}/rotation.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: '${signals} | where tostring(s.signal) == "rotation.run" and tostring(s.outcome) == "blocked" | project timestamp, connection = tostring(s.connection_id), reason = tostring(s.blocked_reason)'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'connection'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource poisonQueues 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${rulePrefix}-poison-queue'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Connector: a message went to a poison queue'
    description: 'The Functions host moved a queue message to <queue>-poison after 5 failed attempts; the poison queue is not empty until someone looks.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message contains "-poison" | extend queue = extract(@"([a-z-]+-poison)", 1, message) | where isnotempty(queue) | project timestamp, queue'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'queue'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
