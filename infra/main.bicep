// Entra ID connector: everything `azd up` creates, in one resource group of the admin's own subscription.
// Shape follows Microsoft's Flex Consumption azd templates (modules under app/, resourceToken names,
// one user-assigned identity, identity-based connections). Resources are declared in local modules, not
// br/public AVM modules, so that checkov can see and check every property (see docs/infra.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; feeds the unique token in every resource name.')
param environmentName string

@minLength(1)
@description('Region for every resource; must offer Flex Consumption.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name; empty means rg-<environmentName>.')
param resourceGroupName string = ''

@description('Application (client) id of the operator\'s multi-tenant app registration; empty until it is registered (see docs/infra.md).')
param operatorClientId string = ''

@minLength(1)
@maxLength(127)
@description('Name of the Key Vault secret holding the operator app\'s credential: a client secret, or a certificate with its private key as PEM.')
param operatorCredentialSecretName string = 'operator-app-credential'

@description('Optional object id of a person or pipeline allowed to write the operator credential into the vault (Key Vault Secrets Officer). Empty: nobody but the app.')
param credentialWriterPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Principal type of credentialWriterPrincipalId.')
param credentialWriterPrincipalType string = 'User'

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the HTTP group (admin API, consent). 0 = scale to zero and pay nothing while idle; each instance is billed around the clock.')
param alwaysReadyHttpInstances int = 0

@minValue(40)
@maxValue(1000)
@description('Upper bound on Flex Consumption instances (cost ceiling).')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory per Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

@description('Email address for the alert rules (connection quarantined, deletion threshold held, rotation blocked, poison queue). Empty: the action group is created without a receiver.')
param alertEmail string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'

// Exactly shared/storage_names.py TABLES and QUEUES (tests/infra compares them).
var tableNames = [
  'connections'
  'audit'
  'consentstates'
  'syncstate'
  'syncruns'
  'dirusers'
  'dirgroups'
  'dirmembers'
  'rotationstate'
  'rotationhistory'
  'rotationowners'
  'agents'
  'agentnonces'
]
var queueNames = [
  'sync-jobs'
  'rotation-jobs'
  'directory-changes'
  'purge-jobs'
  'sync-fanout'
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity './app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring './app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    queueNames: queueNames
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module keyVault './app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    credentialWriterPrincipalId: credentialWriterPrincipalId
    credentialWriterPrincipalType: credentialWriterPrincipalType
  }
}

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultUri: keyVault.outputs.uri
    operatorClientId: operatorClientId
    operatorCredentialSecretName: operatorCredentialSecretName
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The host starts only once its identity may reach storage, Key Vault and App Insights.
  dependsOn: [
    rbac
  ]
}

module alerts './app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    actionGroupName: '${abbrs.insightsActionGroups}${resourceToken}'
    rulePrefix: '${abbrs.insightsScheduledQueryRules}${resourceToken}'
    location: location
    tags: tags
    alertEmail: alertEmail
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output PUBLIC_BASE_URL string = api.outputs.uri
output CONSENT_REDIRECT_URI string = '${api.outputs.uri}/api/consent/callback'
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output OPERATOR_CREDENTIAL_SECRET_NAME string = operatorCredentialSecretName
output AZURE_CLIENT_ID string = identity.outputs.clientId
// Named like the app settings, so `azd env get-values` gives the CLI what it reads (docs/infra.md, command line).
output AzureWebJobsStorage__tableServiceUri string = storage.outputs.tableEndpoint
output AzureWebJobsStorage__queueServiceUri string = storage.outputs.queueEndpoint
