#!/usr/bin/env -S npx tsx
/** Entry point of the CDK app: `npx cdk synth` / `npx cdk deploy`. */
import { App } from 'aws-cdk-lib';

const app = new App();
app.synth();
