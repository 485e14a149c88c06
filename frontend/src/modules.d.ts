// Packages without their own types, as far as this app uses them.
declare module "swagger-ui-react" {
  import type { ComponentType } from "react";
  const SwaggerUI: ComponentType<{
    spec?: string | object;
    supportedSubmitMethods?: string[];
    docExpansion?: "list" | "full" | "none";
    defaultModelsExpandDepth?: number;
  }>;
  export default SwaggerUI;
}
declare module "@asyncapi/react-component/browser/standalone/index.js";
declare module "prismjs/components/prism-protobuf";
declare module "prismjs/components/prism-graphql";
