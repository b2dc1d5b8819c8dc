package azure

import (
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions adjusts the credential NewCredential builds; the zero
// value is what the gateway uses.
type CredentialOptions struct {
	// Client is handed to the Azure identity module (its HTTP transport,
	// retries, cloud); tests point it at a local token endpoint.
	Client azcore.ClientOptions
	// DisableInstanceDiscovery skips Entra's authority metadata request,
	// for private clouds and tests whose authority is not a known one.
	DisableInstanceDiscovery bool
}

// NewCredential builds the Entra ID credential of a target with auth
// entra from environ (nil = the process environment):
//
//   - AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET set: a
//     service principal's client secret credential, against
//     AZURE_AUTHORITY_HOST when that is set (sovereign clouds);
//   - otherwise the identity module's default chain, which reads the
//     process environment itself: workload identity (AKS), managed
//     identity, then the Azure CLI and Developer CLI logins.
//
// Tokens are cached in memory by the credential and refreshed before they
// expire. No secret is ever part of the returned error.
func NewCredential(environ []string, opts CredentialOptions) (azcore.TokenCredential, error) {
	env := lookup(environ)
	tenant, client, secret := env("AZURE_TENANT_ID"), env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET")
	if tenant != "" && client != "" && secret != "" {
		co := opts.Client
		if host := env("AZURE_AUTHORITY_HOST"); host != "" && co.Cloud.ActiveDirectoryAuthorityHost == "" {
			co.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: host, Services: co.Cloud.Services}
		}
		c, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: co, DisableInstanceDiscovery: opts.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("client secret credential (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET): %w", err)
		}
		return c, nil
	}
	c, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: opts.Client, DisableInstanceDiscovery: opts.DisableInstanceDiscovery,
	})
	if err != nil {
		return nil, fmt.Errorf("default Azure credential: %w", err)
	}
	return c, nil
}

// lookup returns a getter over environ, or over the process environment
// when environ is nil.
func lookup(environ []string) func(string) string {
	if environ == nil {
		return os.Getenv
	}
	return func(key string) string {
		// The last entry wins, as for exec.Cmd's Env.
		v := ""
		for _, kv := range environ {
			if k, val, ok := strings.Cut(kv, "="); ok && k == key {
				v = val
			}
		}
		return v
	}
}
