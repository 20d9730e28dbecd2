package serverless

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relayflow/relay/api"
)

// Behind API Gateway the UI's pages poll, and say how to authenticate:
// a token under a JWT authorizer, `relay ui` under IAM.
func TestUIHandler_inLambdaPollsAndSaysHowToAuthenticate(t *testing.T) {
	stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for authorizer, want := range map[string]string{"AWS_IAM": "iam", "JWT": "token", "": "none"} {
		h := api.LambdaHandler(UIHandler(stub, authorizer))
		ev := events.APIGatewayV2HTTPRequest{RawPath: "/ui/executions/x"}
		ev.RequestContext.HTTP.Method = http.MethodGet
		res, err := h(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !strings.Contains(res.Body, `<meta name="relay-live" content="poll">`) || !strings.Contains(res.Body, `<meta name="relay-auth" content="`+want+`">`) {
			t.Errorf("authorizer %q: %d %s", authorizer, res.StatusCode, res.Body)
		}
		ev.RawPath = "/flows"
		if res, _ := h(context.Background(), ev); res.StatusCode != http.StatusTeapot {
			t.Errorf("authorizer %q: GET /flows did not reach the API: %d", authorizer, res.StatusCode)
		}
	}
}
