// The Function App on Flex Consumption (Python 3.11) and its app settings. Every setting the code or the
// host reads in Azure is set here, identity-based (no keys, no connection strings with secrets).
param name string
param planName string
param location string
param tags object = {}
param serviceName string = 'api'

param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param keyVaultUri string
param operatorClientId string
param operatorCredentialSecretName string
@description('Client id of the operator app registered in Azure US Government (usgov and usgov-dod connections); empty: none.')
param operatorClientIdUsgov string = ''
@description('Key Vault secret holding the US Government operator app\'s credential.')
param operatorCredentialSecretNameUsgov string = 'operator-app-credential-usgov'
@description('Client id of the operator app registered in Azure China (china connections); empty: none.')
param operatorClientIdChina string = ''
@description('Key Vault secret holding the China operator app\'s credential.')
param operatorCredentialSecretNameChina string = 'operator-app-credential-china'

param alwaysReadyHttpInstances int = 0
@minValue(60)
@maxValue(540)
@description('Seconds one sync invocation runs before it checkpoints and continues; below host.json functionTimeout (600 s).')
param syncTimeBudgetSeconds int = 480
@description('Comma-separated return URLs of the product for end-user sign-in (docs/signin.md); empty: none.')
param signinReturnUrls string = ''
@description('Scopes end-user sign-in asks for (delegated permissions).')
param signinScopes string = 'openid profile email User.ReadBasic.All'
@allowed(['auto', 'on', 'off'])
@description('Graph change notifications (near-real-time sync): auto subscribes when PUBLIC_BASE_URL is https. Keep an always-ready http instance so the 3 s answer holds after idle (docs/infra.md).')
param changeNotifications string = 'auto'
@minValue(10)
@maxValue(600)
@description('Seconds a job lease of an on-prem agent lasts after its last heartbeat (docs/ad-agent.md).')
param agentLeaseSeconds int = 60
param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy exists only in some regions and needs at least two always-ready instances (a standing cost); the default scales to zero.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances itself; a fixed worker count does not apply (see alwaysReadyHttpInstances).
  // checkov:skip=CKV_AZURE_222: The consent callback is opened by customers' admins in their browsers, so the app must be public; the admin API needs function keys.
  // checkov:skip=CKV_AZURE_17: Client certificates would break the browser-based consent callback; admin endpoints use function keys over TLS 1.2.
  // checkov:skip=CKV_AZURE_78: Flex Consumption refuses siteConfig.ftpsState (Learn, Flex Consumption plan deprecations: "FTPS not supported"; error 51021); FTP stays off through the ftp and scm basicPublishingCredentialsPolicies below.
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; functions/health.py answers availability probes instead.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: (alwaysReadyHttpInstances > 0) ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// The whole collection is replaced on every provision: a setting missing here disappears from Azure.
// tests/infra checks these names against shared/config.py SETTINGS (where "both" or "azure").
// checkov runs its checks for the 'web' config resource on this 'appsettings' one too; those below do not apply.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: Easy Auth would block the consent callback and function-key callers; each function sets its own auth level.
  // checkov:skip=CKV_AZURE_222: Same reason as on the site: the consent callback must be reachable from customers' browsers.
  // checkov:skip=CKV_AZURE_63: Flex Consumption (Linux) has no App Service HTTP logs; requests go to Application Insights.
  // checkov:skip=CKV_AZURE_65: Flex Consumption (Linux) has no detailed error pages; errors go to Application Insights.
  // checkov:skip=CKV_AZURE_66: Flex Consumption (Linux) has no failed request tracing; failures go to Application Insights.
  // checkov:skip=CKV_AZURE_80: Python app; no .NET Framework version applies.
  // checkov:skip=CKV_AZURE_88: Flex Consumption does not use an Azure Files content share; the package lives in blob storage.
  parent: site
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    AZURE_CLIENT_ID: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
    KEY_VAULT_URL: keyVaultUri
    OPERATOR_CLIENT_ID: operatorClientId
    OPERATOR_CREDENTIAL_SECRET_NAME: operatorCredentialSecretName
    OPERATOR_CLIENT_ID_USGOV: operatorClientIdUsgov
    OPERATOR_CREDENTIAL_SECRET_NAME_USGOV: operatorCredentialSecretNameUsgov
    OPERATOR_CLIENT_ID_CHINA: operatorClientIdChina
    OPERATOR_CREDENTIAL_SECRET_NAME_CHINA: operatorCredentialSecretNameChina
    PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
    SYNC_TIME_BUDGET_SECONDS: string(syncTimeBudgetSeconds)
    SIGNIN_RETURN_URLS: signinReturnUrls
    SIGNIN_SCOPES: signinScopes
    CONSOLE_TENANT_ID: tenant().tenantId
    CHANGE_NOTIFICATIONS: changeNotifications
    AGENT_LEASE_SECONDS: string(agentLeaseSeconds)
  }
}

// No FTP or SCM basic-auth publishing: azd deploys with an Entra ID token.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
