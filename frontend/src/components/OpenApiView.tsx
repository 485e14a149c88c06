import SwaggerUI from "swagger-ui-react";
import "swagger-ui-react/swagger-ui.css";

// OpenApiView is Swagger UI, as Backstage's api-docs plugin renders OpenAPI. "Try it out" is
// off: calls would leave from the reader's browser to servers the definition names.
export default function OpenApiView({ definition }: { definition: string }) {
  return (
    <div className="openapi" data-testid="openapi">
      <SwaggerUI spec={definition} supportedSubmitMethods={[]} docExpansion="list" defaultModelsExpandDepth={0} />
    </div>
  );
}
